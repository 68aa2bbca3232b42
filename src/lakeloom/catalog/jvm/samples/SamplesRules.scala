// What the samples catalog adds to a session (called from LakeloomSparkExtensions):
//   - SamplesWriteGuard, a check rule refusing every change to a sample table that does not go
//     through the catalog's own write entry points: Delta's commands (OPTIMIZE, VACUUM, RESTORE,
//     REORG, TRUNCATE, the DeltaTable API's delete/update/merge) and writes by path into the
//     folder the tables are materialized in;
//   - ListConfiguredCatalogs: SHOW CATALOGS lists every configured catalog, as Databricks lists
//     every catalog of the metastore (Spark lists only the catalogs a session has used so far).
package org.apache.spark.sql.lakeloom.samples

import java.nio.file.Paths

import org.apache.hadoop.fs.Path
import org.apache.spark.sql.{SparkSession, SparkSessionExtensions}
import org.apache.spark.sql.catalyst.analysis.ResolvedTable
import org.apache.spark.sql.catalyst.catalog.CatalogTable
import org.apache.spark.sql.catalyst.plans.logical._
import org.apache.spark.sql.catalyst.rules.Rule
import org.apache.spark.sql.catalyst.streaming.WriteToStream
import org.apache.spark.sql.connector.catalog.{CatalogPlugin, Identifier}
import org.apache.spark.sql.execution.datasources.{HadoopFsRelation, LogicalRelation, SaveIntoDataSourceCommand}
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation
import org.apache.spark.sql.internal.SQLConf

import io.lakeloom.samples.{SampleData, SamplesCatalog}

object SamplesRules {
  def install(extensions: SparkSessionExtensions): Unit = {
    extensions.injectCheckRule(_ => SamplesWriteGuard)
    extensions.injectResolutionRule(spark => new ListConfiguredCatalogs(spark))
  }
}

object SamplesWriteGuard extends (LogicalPlan => Unit) {
  // Delta commands whose every table reference is the table they change.
  private val DeltaChanges = Map(
    "DeleteCommand" -> "DELETE", "UpdateCommand" -> "UPDATE", "WriteIntoDelta" -> "write",
    "TruncateDeltaTableCommand" -> "TRUNCATE TABLE", "OptimizeTableCommand" -> "OPTIMIZE",
    "VacuumTableCommand" -> "VACUUM", "DeltaReorgTableCommand" -> "REORG TABLE", "RestoreTableCommand" -> "RESTORE",
    "DeltaGenerateCommand" -> "GENERATE")

  // Writes are statements of their own (commands, a stream's sink) at the root of a plan: queries
  // are not walked, so a read pays one type test.
  override def apply(plan: LogicalPlan): Unit = plan match {
    case _: Command | _: WriteToStream => plan.foreach(check)
    case _ =>
  }

  private def check(node: LogicalPlan): Unit = node match {
    case w: V2WriteCommand => refuseIf(command(w), w.table)
    case t: TruncateTable => refuseIf("TRUNCATE TABLE", t.table)
    case d: DeleteFromTable => refuseIf("DELETE", d.table)
    case u: UpdateTable => refuseIf("UPDATE", u.table)
    case m: MergeIntoTable => refuseIf("MERGE", m.targetTable)
    case s: SaveIntoDataSourceCommand => s.options.get("path").foreach(refuseIf("write", _))
    case w: WriteToStream =>
      w.catalogAndIdent.foreach { case (c, i) => refuseIf("writeStream", (c, i)) }
      refuseIf("writeStream", w.sink)
    case other => other.getClass.getSimpleName match {
      case "MergeIntoCommand" => Seq("target", "targetFileIndex", "catalogTable").flatMap(call(other, _))
        .foreach(refuseIf("MERGE", _))
      case n if DeltaChanges.contains(n) =>
        (other.children ++ other.productIterator).foreach(refuseIf(DeltaChanges(n), _))
      case _ =>
    }
  }

  private def command(w: V2WriteCommand): String = w match {
    case _: AppendData => "INSERT INTO"
    case _: OverwriteByExpression | _: OverwritePartitionsDynamic => "INSERT OVERWRITE"
    case other => other.nodeName
  }

  private def refuseIf(command: String, target: Any): Unit =
    sampleTable(target).foreach(name => throw SamplesCatalog.readOnly(command, name))

  /** The sample table (or path inside the samples folder) that `target` refers to, if any. */
  def sampleTable(target: Any): Option[String] = target match {
    case null => None
    case Some(x) => sampleTable(x)
    case (c: CatalogPlugin, i: Identifier) if isSamples(c) => Some((c.name() +: i.namespace().toSeq :+ i.name()).mkString("."))
    case r: ResolvedTable => sampleTable((r.catalog, r.identifier)).orElse(sampleTable(r.table))
    case r: DataSourceV2Relation =>
      r.catalog.zip(r.identifier).flatMap(sampleTable).orElse(sampleTable(r.table))
    case s: SubqueryAlias => sampleTable(s.child)
    case r: LogicalRelation => r.catalogTable.flatMap(sampleTable).orElse(r.relation match {
      case fs: HadoopFsRelation => fs.location.rootPaths.flatMap(p => sampleTable(p)).headOption
      case _ => None
    })
    case ct: CatalogTable =>
      if (ct.identifier.catalog.exists(SamplesCatalog.isSamplesCatalog)) Some(ct.identifier.unquotedString)
      else ct.storage.locationUri.flatMap(u => sampleTable(u.toString))
    case p: Path => insideSamples(p.toUri.getPath)
    case p: String => insideSamples(new Path(p).toUri.getPath)
    case d if isDelta(d) => // DeltaTableV2, DeltaLog, TahoeFileIndex, DeltaSink
      Seq("catalogTable", "path", "dataPath").iterator.flatMap(call(d, _)).map(sampleTable).collectFirst { case Some(n) => n }
    case _ => None
  }

  private def isSamples(c: CatalogPlugin): Boolean = c.getClass.getName == SamplesCatalog.ClassName

  private def isDelta(obj: Any): Boolean = obj.getClass.getName.startsWith("org.apache.spark.sql.delta.")

  /** The materialized tables' folders of every samples catalog of the session. */
  private def roots: Seq[String] = {
    val conf = SQLConf.get
    conf.getAllConfs.collect {
      case (k, SamplesCatalog.ClassName) if k.startsWith("spark.sql.catalog.") && k.count(_ == '.') == 3 =>
        SampleData.root(conf.getConfString(s"$k.cache-dir", SamplesCatalog.defaultCacheDir)).toString
    }.toSeq
  }

  private def insideSamples(path: String): Option[String] =
    if (path == null || !path.startsWith("/")) None
    else {
      val p = Paths.get(path).normalize().toString
      roots.find(r => p == r || p.startsWith(r + "/")).map(_ => s"the samples table at $p")
    }

  private def call(obj: Any, name: String): Option[AnyRef] =
    try Option(obj.getClass.getMethod(name).invoke(obj))
    catch { case _: NoSuchMethodException => None }
}

/** Loads every catalog configured as spark.sql.catalog.<name> before SHOW CATALOGS lists them. */
class ListConfiguredCatalogs(spark: SparkSession) extends Rule[LogicalPlan] {
  override def apply(plan: LogicalPlan): LogicalPlan = {
    plan match {
      case _: org.apache.spark.sql.execution.command.ShowCatalogsCommand =>
        val manager = spark.asInstanceOf[org.apache.spark.sql.classic.SparkSession].sessionState.catalogManager
        SQLConf.get.getAllConfs.keys.filter(k => k.startsWith("spark.sql.catalog.") && k.count(_ == '.') == 3)
          .map(_.stripPrefix("spark.sql.catalog.")).foreach { name =>
            try manager.catalog(name) catch { case _: Exception => () } // a broken catalog fails where it is used
          }
      case _ =>
    }
    plan
  }
}
