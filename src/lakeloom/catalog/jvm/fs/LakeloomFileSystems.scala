// Databricks paths for Spark itself: `/Volumes/<catalog>/<schema>/<volume>/...` and `dbfs:/...`
// resolve to the workspace's folders, so spark.read.json("/Volumes/main/raw/landing"), SQL
// `json.`dbfs:/x``, streaming checkpoints and Delta tables at such paths work unmodified.
//
//   fs.file.impl = io.lakeloom.fs.LakeloomLocalFileSystem  (only /Volumes/... is remapped)
//   fs.dbfs.impl = io.lakeloom.fs.DbfsFileSystem           (dbfs:/Volumes/... -> volumes, the rest -> dbfs root)
//   fs.AbstractFileSystem.{file,dbfs}.impl = io.lakeloom.fs.{LakeloomLocalFs,DbfsFs}
//                                   (the FileContext API, which Delta's log store writes through)
//   fs.lakeloom.volumes.root, fs.lakeloom.dbfs.root       (local folders)
//   fs.lakeloom.catalog.store                              (the catalog store: which volumes exist)
//
// With a catalog store, a path under `/Volumes/<c>/<s>/<v>` needs volume `c.s.v` to exist
// (LakeloomVolumeRecords), for reads and writes alike; above the volume level only reading and
// creating folders is allowed, so no write can bring a volume into being by naming it.
//
// Both are Hadoop's LocalFileSystem (checksums included) over a RawLocalFileSystem whose
// pathToFile maps the logical path to the local file. RawLocalFileSystem labels a FileStatus
// with the local file's path; statuses asked for by a logical path are relabelled with that
// path, so listings stay under the path the user gave (partition discovery and Delta's log
// listing compare them with it).
package io.lakeloom.fs

import java.io.File
import java.net.URI

import org.apache.hadoop.conf.Configuration
import java.util.EnumSet

import org.apache.hadoop.fs.{ChecksumFs, CreateFlag, DelegateToFileSystem, FileStatus, FSDataOutputStream, LocalFileSystem,
  Path, RawLocalFileSystem}
import org.apache.hadoop.fs.permission.FsPermission
import org.apache.hadoop.io.nativeio.NativeIO
import java.nio.file.{Files, Paths}
import java.nio.file.attribute.PosixFilePermission
import org.apache.hadoop.util.Progressable

object PathMapping {
  val VolumesRootKey = "fs.lakeloom.volumes.root"
  val DbfsRootKey = "fs.lakeloom.dbfs.root"

  def under(path: String, prefix: String): Option[String] =
    if (path == prefix) Some("") else if (path.startsWith(prefix + "/")) Some(path.substring(prefix.length)) else None

  def root(conf: Configuration, key: String): Option[String] =
    Option(conf.get(key)).map(_.trim).filter(_.nonEmpty).map(r => new File(r).getAbsolutePath.stripSuffix("/"))
}

/** A raw local file system for `scheme` that maps logical paths (see [[local]]) to local files. */
class MappedRawLocalFileSystem(scheme: String) extends RawLocalFileSystem {
  import PathMapping._

  @volatile private var volumesRoot: Option[String] = None
  @volatile private var dbfsRoot: Option[String] = None
  @volatile private var catalogStore: Option[String] = None

  // Called by RawLocalFileSystem's constructor too, hence a def.
  override def getUri: URI = URI.create(s"${Option(scheme).getOrElse("file")}:///")
  override def getScheme: String = scheme

  override def initialize(name: URI, conf: Configuration): Unit = {
    volumesRoot = root(conf, VolumesRootKey)
    dbfsRoot = root(conf, DbfsRootKey)
    catalogStore = root(conf, VolumeRecords.StoreKey)
    super.initialize(name, conf)
  }

  /** The local file a logical path names, or None when the path is not remapped. */
  def local(path: Path): Option[String] = {
    val p = path.toUri.getPath
    if (p == null || !p.startsWith("/")) return None
    val volume = volumesRoot.flatMap(r => under(p, "/Volumes").map(r + _))
    if (scheme == "file") volume
    else volume.orElse(dbfsRoot.map(_ + (if (p == "/") "" else p)))
        .orElse(throw new IllegalStateException(s"$path: $DbfsRootKey is not set"))
  }

  /** `catalog/schema/volume/...` of a path this file system maps under `/Volumes`, else None. */
  private def volumeParts(path: Path): Option[Seq[String]] =
    if (volumesRoot.isEmpty) None
    else Option(path.toUri.getPath).flatMap(under(_, "/Volumes")).map(_.split('/').toSeq.filter(_.nonEmpty))

  /** Whether `path` may be used: its volume must exist and the thread's principal hold READ VOLUME
    * (and WRITE VOLUME to write) on it. A write above the volume level (other than creating
    * folders) has no volume to go to. */
  private def guard(path: Path, write: Boolean, folder: Boolean = false): Unit =
    for (store <- catalogStore; parts <- volumeParts(path)) {
      if (parts.length >= 3) VolumeAuthorizer.check(VolumeRecords.require(store, parts(0), parts(1), parts(2)), write)
      else if (write && !folder) {
        throw new java.io.IOException(s"$path is not inside a volume (/Volumes/<catalog>/<schema>/<volume>/...)")
      }
    }

  override def pathToFile(path: Path): File = local(path) match {
    case Some(f) => checkPath(path); guard(path, write = false); new File(f)
    case None => super.pathToFile(path)
  }

  // ---- writes: the volume must exist (pathToFile checks reads) ----------------------------------

  override def create(f: Path, overwrite: Boolean, bufferSize: Int, replication: Short, blockSize: Long,
      progress: Progressable): FSDataOutputStream = {
    guard(f, write = true); super.create(f, overwrite, bufferSize, replication, blockSize, progress)
  }
  override def create(f: Path, permission: FsPermission, overwrite: Boolean, bufferSize: Int, replication: Short,
      blockSize: Long, progress: Progressable): FSDataOutputStream = {
    guard(f, write = true); super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress)
  }
  override def createNonRecursive(f: Path, permission: FsPermission, flags: EnumSet[CreateFlag], bufferSize: Int,
      replication: Short, blockSize: Long, progress: Progressable): FSDataOutputStream = {
    guard(f, write = true); super.createNonRecursive(f, permission, flags, bufferSize, replication, blockSize, progress)
  }
  override def createNonRecursive(f: Path, permission: FsPermission, overwrite: Boolean, bufferSize: Int,
      replication: Short, blockSize: Long, progress: Progressable): FSDataOutputStream = {
    guard(f, write = true)
    super.createNonRecursive(f, permission, overwrite, bufferSize, replication, blockSize, progress)
  }
  override def append(f: Path, bufferSize: Int, progress: Progressable): FSDataOutputStream = {
    guard(f, write = true); super.append(f, bufferSize, progress)
  }
  override def mkdirs(f: Path): Boolean = { guard(f, write = true, folder = true); super.mkdirs(f) }
  override def mkdirs(f: Path, permission: FsPermission): Boolean = {
    guard(f, write = true, folder = true); super.mkdirs(f, permission)
  }
  override def delete(p: Path, recursive: Boolean): Boolean = { guard(p, write = true); super.delete(p, recursive) }
  override def rename(src: Path, dst: Path): Boolean = {
    guard(src, write = true); guard(dst, write = true); super.rename(src, dst)
  }
  override def truncate(f: Path, newLength: Long): Boolean = { guard(f, write = true); super.truncate(f, newLength) }
  override def concat(trg: Path, psrcs: Array[Path]): Unit = {
    (trg +: psrcs.toSeq).foreach(guard(_, write = true)); super.concat(trg, psrcs)
  }
  override def setTimes(p: Path, mtime: Long, atime: Long): Unit = { guard(p, write = true); super.setTimes(p, mtime, atime) }
  override def setPermission(p: Path, permission: FsPermission): Unit = {
    guard(p, write = true)
    if (NativeIO.isAvailable || permission.getStickyBit) super.setPermission(p, permission)
    else Files.setPosixFilePermissions(pathToFile(p).toPath, ProcessFree.posix(permission))
  }
  override def setOwner(p: Path, username: String, groupname: String): Unit = {
    guard(p, write = true); super.setOwner(p, username, groupname)
  }
  override def createSymlink(target: Path, link: Path, createParent: Boolean): Unit = {
    guard(link, write = true); super.createSymlink(target, link, createParent)
  }

  private def relabel(f: Path, status: FileStatus): FileStatus = {
    if (local(f).isDefined) status.setPath(makeQualified(f))
    status
  }

  override def getFileStatus(f: Path): FileStatus = relabel(f, super.getFileStatus(f))
  // Hadoop asks `readlink` (a process) whether the path's string, taken as a local file name,
  // is a symbolic link; java.nio answers that without one (see ProcessFree).
  override def getFileLinkStatus(f: Path): FileStatus =
    relabel(f, if (ProcessFree.isLink(f)) super.getFileLinkStatus(f) else super.getFileStatus(f))

  // A directory's children go through getFileStatus (relabelled); a file lists as itself.
  override def listStatus(f: Path): Array[FileStatus] =
    if (local(f).isDefined && pathToFile(f).isFile) Array(getFileStatus(f)) else super.listStatus(f)
}

/** Without Hadoop's native library, RawLocalFileSystem starts a process for every permission it
  * sets (`chmod`: each file and folder it creates with one) and every link status it reads
  * (`readlink`: each rename, so each Delta commit and streaming checkpoint file): thousands of
  * processes in a run of small tasks, each forked from the driver's JVM. java.nio does both in
  * the JVM with the same outcome (a sticky bit still goes through Hadoop). */
object ProcessFree {
  private val Bits = PosixFilePermission.values() // OWNER_READ ... OTHERS_EXECUTE: bits 8 .. 0

  def posix(permission: FsPermission): java.util.Set[PosixFilePermission] = {
    val mode = permission.toShort.toInt
    val set = java.util.EnumSet.noneOf(classOf[PosixFilePermission])
    for (i <- Bits.indices if (mode & (1 << (8 - i))) != 0) set.add(Bits(i))
    set
  }

  /** What RawLocalFileSystem's `readlink` checks: the path's string as a local file name. */
  def isLink(f: Path): Boolean =
    try Files.isSymbolicLink(Paths.get(f.toString))
    catch { case _: java.nio.file.InvalidPathException => false }
}

/** `fs.file.impl`: the local file system, with `/Volumes/...` mapped into the workspace. */
class LakeloomLocalFileSystem extends LocalFileSystem(new MappedRawLocalFileSystem("file"))

/** `fs.dbfs.impl`: `dbfs:/...` as local files under the workspace's DBFS root. */
class DbfsFileSystem extends LocalFileSystem(new MappedRawLocalFileSystem("dbfs")) {
  override def getScheme: String = "dbfs"
}

/** The FileContext side of a mapped scheme (Hadoop's RawLocalFs, over the mapped file system). */
class MappedRawLocalFs(uri: URI, conf: Configuration, scheme: String)
    extends DelegateToFileSystem(uri, new MappedRawLocalFileSystem(scheme), conf, scheme, false) {
  override def getUriDefaultPort: Int = -1
}

/** `fs.AbstractFileSystem.file.impl`: Hadoop's LocalFs with `/Volumes/...` mapped. */
class LakeloomLocalFs(uri: URI, conf: Configuration) extends ChecksumFs(new MappedRawLocalFs(uri, conf, "file"))

/** `fs.AbstractFileSystem.dbfs.impl`: `dbfs:/...` through the FileContext API. */
class DbfsFs(uri: URI, conf: Configuration) extends ChecksumFs(new MappedRawLocalFs(uri, conf, "dbfs"))
