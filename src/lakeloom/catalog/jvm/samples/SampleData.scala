// Materializes a sample table as a Delta table the first time it is read, once per machine user.
//
// Tables live under <cache-dir>/<DataVersion>/<schema>/<table> (the per-user cache, next to the
// catalog jar): the data is the same for every workspace, so one copy serves them all and no
// session start pays for it. A table folder appears only complete: it is written under
// <cache-dir>/.staging/ and renamed into place. Threads of one JVM queue on a monitor, processes
// on a file lock, and whoever comes second finds the table there.
package io.lakeloom.samples

import java.nio.file.{Files, Path, Paths, StandardCopyOption}
import java.util.UUID
import java.util.concurrent.ConcurrentHashMap

import org.apache.spark.sql.{DataFrame, SparkSession}

import io.lakeloom.catalog.FileLocks

object SampleData {
  private val monitors = new ConcurrentHashMap[String, AnyRef]()

  /** `<cache-dir>/<DataVersion>`: where one data version's tables live. */
  def root(cacheDir: String): Path =
    Paths.get(cacheDir).toAbsolutePath.normalize().resolve(SampleTables.DataVersion)

  def tableDir(root: Path, t: SampleTable): Path = root.resolve(t.schema).resolve(t.name)

  private def ready(dir: Path): Boolean = Files.isDirectory(dir.resolve("_delta_log"))

  /** The table's folder, generating it first if no process has yet. */
  def ensure(root: Path, t: SampleTable): Path = {
    val dir = tableDir(root, t)
    if (!ready(dir)) try materialize(root, t, dir) catch {
      case e: java.io.IOException => throw new IllegalStateException(
        s"could not materialize the sample table ${t.schema}.${t.name} under $root ($e): the folder must be " +
          "writable (LAKELOOM_CACHE_DIR moves lakeloom's cache, storage.root a workspace's shared storage)", e)
    }
    dir
  }

  private def materialize(root: Path, t: SampleTable, dir: Path): Unit =
    monitors.computeIfAbsent(dir.toString, _ => new Object).synchronized {
      if (!ready(dir)) {
        FileLocks.withFileLock(dir.getParent.resolve(s".${t.name}.lock")) {
          if (!ready(dir)) generate(root, t, dir)
        }
      }
    }

  /** The table's rows as a DataFrame (`id` 0 until rows, then each stage: a select list or one WHERE). */
  def frame(spark: SparkSession, t: SampleTable): DataFrame =
    t.stages.foldLeft(spark.range(0L, t.rows, 1L, 1).toDF()) {
      case (df, Seq(where)) if where.startsWith("WHERE ") => df.where(where.stripPrefix("WHERE "))
      case (df, stage) => df.selectExpr(stage: _*)
    }

  private def generate(root: Path, t: SampleTable, dir: Path): Unit = {
    val spark = SparkSession.active
    val df = frame(spark, t)
    val got = df.schema.map(f => (f.name, f.dataType))
    val want = t.columns.map(f => (f.name, f.dataType))
    if (got != want) throw new IllegalStateException(s"sample table ${t.schema}.${t.name}: generated $got, expected $want")
    val staging = root.getParent.resolve(".staging").resolve(s"${t.schema}.${t.name}-${UUID.randomUUID()}")
    try {
      Files.createDirectories(staging.getParent)
      val previous = spark.sparkContext.getLocalProperty("spark.job.description")
      spark.sparkContext.setJobDescription(s"lakeloom: materializing samples ${t.schema}.${t.name}")
      try df.write.format("delta").save(staging.toUri.toString)
      finally spark.sparkContext.setJobDescription(previous)
      Files.move(staging, dir, StandardCopyOption.ATOMIC_MOVE)
    } finally deleteTree(staging)
  }

  private def deleteTree(p: Path): Unit = if (Files.exists(p)) {
    val stream = Files.walk(p)
    try stream.sorted(java.util.Comparator.reverseOrder[Path]()).forEach(f => Files.deleteIfExists(f))
    finally stream.close()
  }
}
