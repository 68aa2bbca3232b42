// What the samples catalog adds to a session (called from LakeloomSparkExtensions):
//   - SamplesWriteGuard, a check rule refusing every change to a sample table that does not go
//     through the catalog's own write entry points: Delta's commands (OPTIMIZE, VACUUM, RESTORE,
//     REORG, TRUNCATE, the DeltaTable API's delete/update/merge) and writes by path into the
//     folder the tables are materialized in;
//   - SamplesRestoreGuard, refusing RESTORE of a sample table before Delta's analysis turns a
//     restore to the current version into an empty relation that no check rule would see;
//   - ListConfiguredCatalogs: SHOW CATALOGS lists every configured catalog, as Databricks lists
//     every catalog of the metastore (Spark lists only the catalogs a session has used so far).
package org.apache.spark.sql.lakeloom.samples

import java.nio.file.Paths

import org.apache.hadoop.fs.Path
import org.apache.spark.sql.{SparkSession, SparkSessionExtensions}
import org.apache.spark.sql.catalyst.analysis.{ResolvedTable, UnresolvedRelation}
import org.apache.spark.sql.catalyst.catalog.CatalogTable
import org.apache.spark.sql.catalyst.plans.logical._
import org.apache.spark.sql.catalyst.rules.Rule
import org.apache.spark.sql.catalyst.streaming.WriteToStream
import org.apache.spark.sql.connector.catalog.{CatalogManager, CatalogPlugin, Identifier, LookupCatalog}
import org.apache.spark.sql.execution.datasources.{HadoopFsRelation, LogicalRelation, SaveIntoDataSourceCommand}
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation
import org.apache.spark.sql.internal.SQLConf

import io.lakeloom.samples.{SampleData, SamplesCatalog}

object SamplesRules {
  def install(extensions: SparkSessionExtensions): Unit = {
    extensions.injectCheckRule(_ => SamplesWriteGuard)
    extensions.injectHintResolutionRule(spark => new SamplesRestoreGuard(spark))
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

  private[samples] def isSamples(c: CatalogPlugin): Boolean = c.getClass.getName == SamplesCatalog.ClassName

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

/**
 * Refuses `RESTORE TABLE <sample table> TO ...`. Delta's analysis rule replaces a restore to the
 * table's current version with an empty LocalRelation (a no-op) before any check rule runs, so
 * SamplesWriteGuard never sees that one; Databricks refuses every RESTORE of a read-only table.
 * It runs in the analyzer's hint batch, before relations are resolved, so it looks at the name.
 */
class SamplesRestoreGuard(spark: SparkSession) extends Rule[LogicalPlan] with LookupCatalog {
  override protected lazy val catalogManager: CatalogManager =
    spark.asInstanceOf[org.apache.spark.sql.classic.SparkSession].sessionState.catalogManager

  // RESTORE is a statement of its own: only the plan's root is looked at, so a query pays one test.
  override def apply(plan: LogicalPlan): LogicalPlan = {
    if (plan.getClass.getSimpleName == "RestoreTableStatement") plan.children.foreach(restored(_).foreach { name =>
      throw SamplesCatalog.readOnly("RESTORE", name)
    })
    plan
  }

  /** The sample table a restore's target (Delta's TimeTravel node around the relation) names. */
  private def restored(target: LogicalPlan): Option[String] = target.productIterator.collectFirst {
    case u: UnresolvedRelation => u.multipartIdentifier
  }.flatMap { parts =>
    val byPath = parts match {
      case Seq(format, path) if format.equalsIgnoreCase("delta") => SamplesWriteGuard.sampleTable(path)
      case _ => None
    }
    byPath.orElse(try parts match {
      case CatalogAndIdentifier(catalog, ident) if SamplesWriteGuard.isSamples(catalog) =>
        Some((catalog.name() +: ident.namespace().toSeq :+ ident.name()).mkString("."))
      case _ => None
    } catch { case _: Exception => None }) // an unknown catalog fails later, where Spark resolves it
  }
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
