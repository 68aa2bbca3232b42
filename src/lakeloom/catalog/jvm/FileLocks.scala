// An exclusive lock on a file, across processes: a POSIX record lock, which Python's
// fcntl.lockf and Java's FileChannel.lock both take, so lakeloom's Python and JVM writers of one
// file exclude each other. A JVM holds one such lock per file, so callers serialize their own
// threads first (a monitor), as the JVM throws OverlappingFileLockException otherwise.
package io.lakeloom.catalog

import java.nio.channels.FileChannel
import java.nio.file.{Files, Path, StandardOpenOption}

object FileLocks {
  /** Run `body` holding the lock on `lockFile` (created with its folders if missing). */
  def withFileLock[T](lockFile: Path)(body: => T): T = {
    Files.createDirectories(lockFile.getParent)
    val channel = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE)
    try {
      val lock = channel.lock()
      try body finally lock.release()
    } finally channel.close()
  }
}
