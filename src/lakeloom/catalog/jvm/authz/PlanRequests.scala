// What a statement needs, read off Spark's analyzed plan (the way Apache Kyuubi's AuthZ plugin
// builds privilege requests), never from SQL text. CTE names, temp views and aliases never reach
// a catalog, so only the tables behind them are checked; a view is checked as a view, and its
// body with its owner's rights.
package io.lakeloom.catalog.authz

import java.util.Locale

import scala.collection.mutable

import org.apache.hadoop.fs.Path
import org.apache.spark.sql.catalyst.TableIdentifier
import org.apache.spark.sql.catalyst.analysis.ResolvedTable
import org.apache.spark.sql.catalyst.catalog.CatalogTable
import org.apache.spark.sql.catalyst.expressions.SubqueryExpression
import org.apache.spark.sql.catalyst.plans.logical._
import org.apache.spark.sql.catalyst.streaming.{StreamingRelationV2, WriteToStream}
import org.apache.spark.sql.connector.catalog.{CatalogPlugin, Identifier}
import org.apache.spark.sql.execution.command.DataWritingCommand
import org.apache.spark.sql.execution.datasources.{HadoopFsRelation, InsertIntoHadoopFsRelationCommand, LogicalRelation, SaveIntoDataSourceCommand}
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation
import org.apache.spark.sql.execution.streaming.runtime.StreamingRelation
import org.apache.spark.sql.internal.SQLConf

/** One privilege a statement needs: `user` is whose rights are used (a view's owner inside a view). */
case class Request(privilege: String, securable: Securable, user: String, node: LogicalPlan) {
  // The same node object, not an equal plan: a relation's structural hash walks its whole table
  // metadata (Delta's CatalogTable, schema, properties), more than the rest of the check costs.
  override def hashCode: Int = (privilege, securable, user, System.identityHashCode(node)).hashCode
  override def equals(other: Any): Boolean = other match {
    case r: Request => (r.node eq node) && r.privilege == privilege && r.securable == securable && r.user == user
    case _ => false
  }
}

/** A path the statement reads or writes directly (not through a table name). */
case class PathAccess(path: String, write: Boolean)

/**
 * `internal`: the plan is analyzed inside a running statement (a SQL execution), where Delta
 * writes a table's files for the command the statement already authorized (CTAS, saveAsTable).
 */
class PlanRequests(ownerOf: Securable => Option[String], internal: Boolean = false) {
  import PlanRequests._

  val requests: mutable.LinkedHashSet[Request] = mutable.LinkedHashSet.empty
  val paths: mutable.LinkedHashSet[PathAccess] = mutable.LinkedHashSet.empty

  private def need(privilege: String, s: Securable, user: String, node: LogicalPlan): Unit =
    requests += Request(privilege, s, user, node)

  def visit(plan: LogicalPlan, user: String): Unit = plan match {
    case v: View if !v.isTempView =>
      tableOf(v.desc.identifier) match {
        case Some(s) =>
          need(Privileges.Select, s, user, v)
          visit(v.child, ownerOf(s).getOrElse(Identity.Admins)) // views run with their owner's rights
        case None => visitAll(v, user)
      }
    case r: LogicalRelation =>
      r.catalogTable.flatMap(t => tableOf(t.identifier)) match {
        case Some(s) => need(Privileges.Select, s, user, r)
        case None if r.catalogTable.isEmpty => fsPaths(r.relation).foreach(p => paths += PathAccess(p, write = false))
        case None =>
      }
    case r: DataSourceV2Relation =>
      v2Table(r.catalog, r.identifier).orElse(SystemSecurables.table(r.catalog, r.identifier))
        .orElse(deltaTable(r.table)) match {
        case Some(s) => need(Privileges.Select, s, user, r)
        case None => deltaPath(r.table).foreach(p => paths += PathAccess(p, write = false))
      }
    case r: StreamingRelation => r.dataSource.catalogTable.flatMap(t => tableOf(t.identifier)) match {
      case Some(s) => need(Privileges.Select, s, user, r)
      case None => r.dataSource.options.get("path").foreach(p => paths += PathAccess(p, write = false))
    }
    case r: StreamingRelationV2 =>
      v2Table(r.catalog, r.identifier).orElse(deltaTable(r.table)).foreach(need(Privileges.Select, _, user, r))
    case w: V2WriteCommand =>
      targets(w.table).foreach(need(Privileges.Modify, _, user, w))
      visit(w.query, user)
    case w: WriteToStream =>
      w.catalogTable.flatMap(t => tableOf(t.identifier))
        .orElse(w.catalogAndIdent.flatMap { case (c, i) => v2Table(Some(c), Some(i)) })
        .orElse(deltaTable(w.sink))
        .foreach(need(Privileges.Modify, _, user, w))
      visit(w.inputQuery, user)
    case w: SaveIntoDataSourceCommand =>
      w.options.get("path").foreach(p => paths += PathAccess(p, write = true))
      visit(w.query, user)
    case w: InsertIntoHadoopFsRelationCommand =>
      w.catalogTable.flatMap(t => tableOf(t.identifier)) match {
        case Some(s) => need(Privileges.Modify, s, user, w)
        case None => paths += PathAccess(w.outputPath.toString, write = true)
      }
      visit(w.query, user)
    case t: TruncateTable => targets(t.table).foreach(need(Privileges.Modify, _, user, t))
    case other => other.getClass.getSimpleName match {
      case "DeleteCommand" | "UpdateCommand" =>
        catalogTableField(other, "catalogTable").foreach(need(Privileges.Modify, _, user, other))
        visitAll(other, user) // the target is read too: DELETE/UPDATE need SELECT as well
      case "MergeIntoCommand" =>
        catalogTableField(other, "catalogTable").foreach(need(Privileges.Modify, _, user, other))
        visitAll(other, user)
      case "WriteIntoDelta" if internal =>
      case "WriteIntoDelta" =>
        catalogTableField(other, "catalogTableOpt") match {
          case Some(s) => need(Privileges.Modify, s, user, other)
          case None => call(other, "deltaLog").flatMap(l => call(l, "dataPath"))
            .foreach(p => paths += PathAccess(p.toString, write = true))
        }
      case n if ModifyCommands(n) => commandTargets(other).foreach(need(Privileges.Modify, _, user, other))
      case n if ReadCommands(n) => commandTargets(other).foreach(need(Privileges.Select, _, user, other))
      case _ => visitAll(other, user)
    }
  }

  /** Children, plan-valued fields that are not children (e.g. MERGE's source) and subqueries. */
  private def visitAll(plan: LogicalPlan, user: String): Unit = {
    plan.children.foreach(visit(_, user))
    plan match {
      case _: Command | _: DataWritingCommand =>
        plan.productIterator.foreach {
          case p: LogicalPlan if !plan.children.exists(_ eq p) => visit(p, user)
          case _ =>
        }
      case _ =>
    }
    plan.expressions.foreach(_.foreach {
      case s: SubqueryExpression => visit(s.plan, user)
      case _ =>
    })
  }

  /** The tables a command acts on: its ResolvedTable children, relations and Delta table fields. */
  private def commandTargets(plan: LogicalPlan): Seq[Securable] =
    (plan.children.flatMap(targets) ++ plan.productIterator.toSeq.flatMap {
      case p: LogicalPlan if !plan.children.exists(_ eq p) => targets(p)
      case t: org.apache.spark.sql.connector.catalog.Table => deltaTable(t).toSeq
      case _ => Nil
    }).distinct

  private def targets(plan: LogicalPlan): Seq[Securable] = plan match {
    case r: ResolvedTable => v2Table(Some(r.catalog), Some(r.identifier)).orElse(deltaTable(r.table)).toSeq
    case r: DataSourceV2Relation => v2Table(r.catalog, r.identifier).orElse(deltaTable(r.table)).toSeq
    case r: LogicalRelation => r.catalogTable.flatMap(t => tableOf(t.identifier)).toSeq
    case s: SubqueryAlias => targets(s.child)
    case _ => plan.children.flatMap(targets)
  }
}

object PlanRequests {
  val CatalogClass = "io.lakeloom.catalog.LakeloomCatalog"
  val ModifyCommands: Set[String] = Set("TruncateDeltaTableCommand", "OptimizeTableCommand", "VacuumTableCommand",
    "DeltaReorgTableCommand", "RestoreTableCommand", "RestoreTableStatement", "DeltaGenerateCommand")
  val ReadCommands: Set[String] = Set("DescribeDeltaHistoryCommand", "DescribeDeltaHistory",
    "DescribeDeltaDetailCommand")

  def governed(catalog: String): Boolean =
    SQLConf.get.getConfString(s"spark.sql.catalog.$catalog", "") == CatalogClass

  private def lower(s: String) = s.toLowerCase(Locale.ROOT)

  def tableOf(id: TableIdentifier): Option[Securable] = (id.catalog, id.database) match {
    case (Some(c), Some(db)) if governed(c) => Some(Securable.table(lower(c), lower(db), lower(id.table)))
    case _ => None
  }

  def v2Table(catalog: Option[CatalogPlugin], ident: Option[Identifier]): Option[Securable] = (catalog, ident) match {
    case (Some(c), Some(i)) if c.getClass.getName == CatalogClass && i.namespace().length == 1 =>
      Some(Securable.table(lower(c.name()), lower(i.namespace().head), lower(i.name())))
    case _ => None
  }

  // Delta's classes are not on the compile class path: reach DeltaTableV2 by reflection.
  private val methods = new java.util.concurrent.ConcurrentHashMap[(Class[_], String), Option[java.lang.reflect.Method]]()

  def call(obj: Any, name: String): Option[AnyRef] = obj match {
    case null => None
    case o: AnyRef =>
      methods.computeIfAbsent((o.getClass, name), k =>
        try Some(k._1.getMethod(k._2)) catch { case _: NoSuchMethodException => None })
        .flatMap(m => Option(m.invoke(o)))
  }

  private def catalogTableOf(t: Any): Option[CatalogTable] = call(t, "catalogTable").collect {
    case Some(ct: CatalogTable) => ct
  }

  def deltaTable(t: Any): Option[Securable] =
    if (t == null || !t.getClass.getName.endsWith("DeltaTableV2")) None
    else catalogTableOf(t).flatMap(ct => tableOf(ct.identifier))

  def deltaPath(t: Any): Option[String] =
    if (t == null || !t.getClass.getName.endsWith("DeltaTableV2") || catalogTableOf(t).isDefined) None
    else call(t, "path").map(_.toString)

  def catalogTableField(plan: LogicalPlan, field: String): Option[Securable] = call(plan, field).collect {
    case Some(ct: CatalogTable) => ct
  }.flatMap(ct => tableOf(ct.identifier))

  /** Root paths of a file relation read by path, except Delta's own internal file indexes. */
  def fsPaths(relation: Any): Seq[String] = relation match {
    case fs: HadoopFsRelation =>
      val index = fs.location.getClass.getName
      val internal = index.startsWith("org.apache.spark.sql.delta.") && !index.endsWith(".TahoeLogFileIndex")
      if (internal) Nil else fs.location.rootPaths.map(_.toString)
    case _ => Nil
  }

  def normalizePath(p: String): String = {
    val uri = new Path(p).toUri
    val scheme = Option(uri.getScheme).getOrElse("file")
    val authority = Option(uri.getAuthority).getOrElse("")
    s"$scheme://$authority${uri.getPath.stripSuffix("/")}"
  }
}
