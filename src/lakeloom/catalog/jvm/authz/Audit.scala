// Audit of governance decisions, as JSON lines in the columns of Databricks' system.access.audit:
//   <store>/.audit/<yyyy-MM-dd>/<host>-<pid>-<random>.jsonl   (one file per process and day, append-only;
//   lakeloom/catalog/audit.py writes and reads the same format)
// Events are buffered and appended at most once a second by a daemon thread (and at JVM exit);
// denials and grant/ownership changes are appended at once. A folder starting with "." can never
// be a catalog's.
package io.lakeloom.catalog.authz

import java.lang.management.ManagementFactory
import java.net.InetAddress
import java.nio.charset.StandardCharsets
import java.nio.file.{Files, Path, StandardOpenOption}
import java.time.{Instant, ZoneOffset}
import java.time.format.DateTimeFormatter
import java.util.UUID
import java.util.concurrent.{ConcurrentLinkedQueue, Executors, ThreadFactory, TimeUnit}

import com.fasterxml.jackson.databind.SerializationFeature

object Audit {
  private val processTag = {
    val host = try InetAddress.getLocalHost.getHostName catch { case _: Exception => "localhost" }
    s"$host-${ManagementFactory.getRuntimeMXBean.getPid}-${UUID.randomUUID().toString.take(8)}"
  }
  private val queue = new ConcurrentLinkedQueue[Event]()
  private val Day = DateTimeFormatter.ofPattern("yyyy-MM-dd").withZone(ZoneOffset.UTC)
  private val Time = DateTimeFormatter.ISO_INSTANT

  private lazy val flusher = {
    val ex = Executors.newSingleThreadScheduledExecutor(new ThreadFactory {
      override def newThread(r: Runnable): Thread = {
        val t = new Thread(r, "lakeloom-audit")
        t.setDaemon(true)
        t
      }
    })
    ex.scheduleWithFixedDelay(() => flush(), 1, 1, TimeUnit.SECONDS)
    Runtime.getRuntime.addShutdownHook(new Thread(() => flush(), "lakeloom-audit-exit"))
    ex
  }

  /** One event as recorded; turned into its JSON line by the writer, off the statement's thread. */
  private case class Event(dir: Path, at: Instant, action: String, user: String, params: Map[String, String],
                           status: Int, error: Option[String], runAs: Option[String])

  /**
   * Record one decision or change. `status` 200 (allowed / done) or 403 (denied); `runAs` the
   * principal whose rights were used (a view's owner), when not the user. Allowed decisions are
   * only queued here (a statement pays for an object on a queue); `immediate` ones are written
   * before this returns.
   */
  def log(dir: Path, action: String, user: String, params: Map[String, String], status: Int,
          error: Option[String] = None, runAs: Option[String] = None, immediate: Boolean = false): Unit = {
    queue.add(Event(dir, Instant.now(), action, user, params, status, error, runAs))
    if (immediate) flush() else flusher
  }

  // A random (version 4) UUID without SecureRandom, whose lock and entropy the writer needs twice per event.
  private def randomUuid(): String = {
    val r = java.util.concurrent.ThreadLocalRandom.current()
    new UUID((r.nextLong() & ~0xF000L) | 0x4000L, (r.nextLong() & 0x3FFFFFFFFFFFFFFFL) | Long.MinValue).toString
  }

  private val LineWriter = JsonFiles.Mapper.writer().without(SerializationFeature.INDENT_OUTPUT)

  private def line(e: Event): String = {
    val node = JsonFiles.Mapper.createObjectNode()
    node.put("account_id", "lakeloom")
    node.put("version", "2.0")
    node.put("event_time", Time.format(e.at))
    node.put("event_date", Day.format(e.at))
    node.put("workspace_id", "0")
    node.put("source_ip_address", "127.0.0.1")
    node.put("user_agent", "lakeloom")
    node.put("session_id", processTag)
    node.putObject("user_identity").put("email", e.user).put("subject_name", e.user)
    node.put("service_name", "unityCatalog")
    node.put("action_name", e.action)
    node.put("request_id", randomUuid())
    val rp = node.putObject("request_params")
    e.params.foreach { case (k, v) => rp.put(k, v) }
    val resp = node.putObject("response")
    resp.put("status_code", e.status)
    e.error.fold(resp.putNull("error_message"))(resp.put("error_message", _))
    resp.putNull("result")
    node.put("audit_level", "WORKSPACE_LEVEL")
    node.put("event_id", randomUuid())
    val im = node.putObject("identity_metadata")
    im.put("run_by", e.user)
    im.put("run_as", e.runAs.getOrElse(e.user))
    LineWriter.writeValueAsString(node)
  }

  /** Append every buffered event to its file. */
  def flush(): Unit = synchronized {
    val batch = Iterator.continually(queue.poll()).takeWhile(_ != null).toSeq
    batch.groupBy(e => (e.dir, Day.format(e.at))).foreach { case ((dir, day), events) =>
      try {
        val file = dir.resolve(".audit").resolve(day).resolve(s"$processTag.jsonl")
        Files.createDirectories(file.getParent)
        val text = events.map(line).mkString("", "\n", "\n")
        Files.write(file, text.getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE, StandardOpenOption.APPEND)
      } catch { case _: Exception => () } // the audit must never fail the statement it records
    }
  }
}
