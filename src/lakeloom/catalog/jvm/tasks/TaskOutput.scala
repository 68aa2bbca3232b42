// What a JVM task writes to System.out / System.err, kept for its task log. A spark_jar_task's
// main prints with System.out.println, as on Databricks (where it shows in the run's output);
// in a shared driver (the daemon, `serve`) the JVM's own stdout is no task's log. Once
// installed, System.out and System.err route each write by thread: a thread inside begin()/end()
// (and the threads it starts) writes into its task's buffer, every other thread to the stream
// the JVM had, so tasks running at the same time keep their output apart.
package io.lakeloom.tasks

import java.io.{ByteArrayOutputStream, OutputStream, PrintStream}

object TaskOutput {
  private val current = new InheritableThreadLocal[ByteArrayOutputStream]
  @volatile private var installed = false

  private final class Routing(fallback: PrintStream) extends OutputStream {
    override def write(b: Int): Unit = current.get match {
      case null => fallback.write(b)
      case buf => buf.synchronized(buf.write(b))
    }
    override def write(b: Array[Byte], off: Int, len: Int): Unit = current.get match {
      case null => fallback.write(b, off, len)
      case buf => buf.synchronized(buf.write(b, off, len))
    }
    override def flush(): Unit = if (current.get == null) fallback.flush()
  }

  private def install(): Unit = synchronized {
    if (!installed) {
      System.setOut(new PrintStream(new Routing(System.out), true, "UTF-8"))
      System.setErr(new PrintStream(new Routing(System.err), true, "UTF-8"))
      installed = true
    }
  }

  /** From now on, what this thread (and threads it starts) prints is kept for [[end]]. */
  def begin(): Unit = { install(); current.set(new ByteArrayOutputStream()) }

  /** What this thread printed since [[begin]] (UTF-8); it prints to the JVM's streams again. */
  def end(): String = {
    val buf = current.get
    current.remove()
    if (buf == null) "" else buf.synchronized(buf.toString("UTF-8"))
  }
}
