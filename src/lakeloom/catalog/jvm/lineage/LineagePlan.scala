// Table- and column-level lineage of one statement, read from its analyzed logical plan.
//
// A write is recognised by its command node (Spark's v2 writes and CTAS, file-source inserts,
// Delta's MERGE/UPDATE/DELETE/WriteIntoDelta, found by field name so no Delta class is needed at
// compile time). Sources are the relations under its query: catalog tables (v2 relations, or the
// v1 LogicalRelation Delta turns them into, which keeps the CatalogTable), persistent views (not
// entered: Unity Catalog records the view) and paths. Column lineage follows expression ids from
// each target column back through aliases, unions, generators and CTEs to source columns.
package org.apache.spark.sql.lakeloom.lineage

import java.util.Locale

import scala.collection.mutable

import org.apache.spark.sql.catalyst.analysis.ResolvedIdentifier
import org.apache.spark.sql.catalyst.catalog.{CatalogTable, CatalogTableType}
import org.apache.spark.sql.catalyst.expressions.{Alias, Attribute, ExprId, Expression}
import org.apache.spark.sql.catalyst.plans.logical._
import org.apache.spark.sql.connector.catalog.{CatalogPlugin, Identifier}
import org.apache.spark.sql.execution.command.CreateDataSourceTableAsSelectCommand
import org.apache.spark.sql.execution.datasources.{HadoopFsRelation, InsertIntoHadoopFsRelationCommand, LogicalRelation, SaveIntoDataSourceCommand}
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation

/** A table, view or path read or written by a statement. `kind` is TABLE, VIEW or PATH. */
case class Entity(fullName: Option[String], path: Option[String], kind: String) {
  def nameParts: Seq[Option[String]] = fullName.map(_.split("\\.", 3).toSeq.map(Option(_))).filter(_.size == 3)
    .getOrElse(Seq(None, None, None))
}

case class ColumnEdge(source: Entity, sourceColumn: String, targetColumn: String)

/** One write: its target, the datasets it read and the column edges. `operation` names the command. */
case class Write(target: Entity, sources: Seq[Entity], columns: Seq[ColumnEdge], operation: String)

object LineagePlan {
  // Delta's commands, and the write node of each streaming micro-batch (Delta's sink is a v1 Sink).
  private val DeltaWrites = Set("MergeIntoCommand", "WriteIntoDelta", "UpdateCommand", "DeleteCommand",
    "DeltaDynamicPartitionOverwriteCommand", "CreateDeltaTableCommand", "WriteToMicroBatchDataSourceV1",
    "WriteToMicroBatchDataSource")

  /** The writes `plan` performs (usually none or one). */
  def writes(plan: LogicalPlan): Seq[Write] = plan match {
    case w: V2WriteCommand =>
      tableEntity(w.table).toSeq.map(t => write(t, w.query, w.table.output.map(_.name), opName(w)))
    case c: V2CreateTableAsSelectPlan =>
      identEntity(c.name).toSeq.map(t => write(t, c.query, c.query.output.map(_.name), opName(c)))
    case i: InsertIntoHadoopFsRelationCommand =>
      val target = i.catalogTable.map(catalogEntity).getOrElse(Entity(None, Some(i.outputPath.toString), "PATH"))
      Seq(write(target, i.query, i.outputColumnNames, opName(i)))
    case c: CreateDataSourceTableAsSelectCommand =>
      Seq(write(catalogEntity(c.table), c.query, c.outputColumnNames, opName(c)))
    case s: SaveIntoDataSourceCommand =>
      s.options.get("path").toSeq.map(p => write(Entity(None, Some(p), "PATH"), s.query, s.query.output.map(_.name),
        opName(s)))
    case c if DeltaWrites(c.getClass.getSimpleName) => deltaWrite(c).toSeq
    case _ => Seq.empty
  }

  private def opName(p: LogicalPlan): String = p.getClass.getSimpleName.stripSuffix("$")

  private def write(target: Entity, query: LogicalPlan, targetColumns: Seq[String], op: String): Write = {
    val deps = columnDeps(query)
    val edges = targetColumns.zip(query.output).flatMap { case (tcol, attr) =>
      deps.getOrElse(attr.exprId, Set.empty).map { case (src, scol) => ColumnEdge(src, scol, tcol) }
    }
    Write(target, sources(query).distinct, edges.distinct, op)
  }

  // ---- Delta commands, by field name ----------------------------------------------------------

  private def field(p: Product, name: String): Option[Any] = {
    val i = p.productElementNames.indexOf(name)
    if (i >= 0) Option(p.productElement(i)) else None
  }

  private def planField(p: Product, name: String): Option[LogicalPlan] = field(p, name).flatMap {
    case plan: LogicalPlan => Some(plan)
    case Some(plan: LogicalPlan) => Some(plan)
    case ds: org.apache.spark.sql.classic.Dataset[_] => Some(ds.queryExecution.analyzed)
    case _ => None
  }

  private def deltaWrite(c: LogicalPlan): Option[Write] = {
    val fromCatalog = (field(c, "catalogTable").toSeq ++ field(c, "catalogTableOpt") ++ field(c, "table")).collectFirst {
      case Some(t: CatalogTable) => catalogEntity(t)
      case t: CatalogTable => catalogEntity(t)
    }
    val target = fromCatalog
      .orElse(field(c, "relation").collect { case Some(r: DataSourceV2Relation) => tableEntity(r) }.flatten)
      .orElse(planField(c, "target").flatMap(t => sources(t).headOption))
      .orElse(field(c, "deltaLog").flatMap(l => scala.util.Try(
        l.getClass.getMethod("dataPath").invoke(l).toString).toOption).map(p => Entity(None, Some(p), "PATH")))
    target.map { t =>
      val source = Seq("source", "data", "query").view.flatMap(planField(c, _)).headOption
      source match {
        case Some(q) if opName(c) == "MergeIntoCommand" => mergeWrite(t, c, q)
        case Some(q) => write(t, q, q.output.map(_.name), opName(c))
        case None => Write(t, Seq.empty, Seq.empty, opName(c))
      }
    }
  }

  /** MERGE: each `DeltaMergeAction(targetColNameParts, expr)` of its clauses is an edge set. */
  private def mergeWrite(target: Entity, c: LogicalPlan, source: LogicalPlan): Write = {
    val deps = columnDeps(source)
    val edges = c.expressions.flatMap(_.collect {
      case a if a.getClass.getSimpleName == "DeltaMergeAction" => a
    }).flatMap { action =>
      val col = scala.util.Try(action.getClass.getMethod("targetColNameParts").invoke(action)
        .asInstanceOf[Seq[String]].mkString(".")).getOrElse("")
      action.references.toSeq.flatMap(r => deps.getOrElse(r.exprId, Set.empty))
        .map { case (src, scol) => ColumnEdge(src, scol, col) }
    }.filter(e => e.targetColumn.nonEmpty && e.source != target)
    Write(target, sources(source).distinct, edges.distinct, opName(c))
  }

  // ---- entities -------------------------------------------------------------------------------

  private def lower(s: String): String = s.toLowerCase(Locale.ROOT)

  private def isPathIdent(ident: Identifier): Boolean =
    ident.namespace().length == 1 && Set("delta", "parquet", "json", "csv", "orc", "text")(lower(ident.namespace()(0))) &&
      (ident.name().startsWith("/") || ident.name().contains(":/"))

  private def v2Entity(catalog: Option[CatalogPlugin], ident: Option[Identifier], fallback: => String): Entity =
    (catalog, ident) match {
      case (_, Some(i)) if isPathIdent(i) => Entity(None, Some(i.name()), "PATH")
      case (Some(c), Some(i)) => Entity(Some(lower((c.name() +: i.namespace().toSeq :+ i.name()).mkString("."))), None, "TABLE")
      case _ => Entity(Some(lower(fallback)), None, "TABLE")
    }

  private def identEntity(name: LogicalPlan): Option[Entity] = name match {
    case r: ResolvedIdentifier => Some(v2Entity(Some(r.catalog), Some(r.identifier), r.identifier.toString))
    case _ => None
  }

  private def tableEntity(rel: LogicalPlan): Option[Entity] = rel match {
    case r: DataSourceV2Relation => Some(v2Entity(r.catalog, r.identifier, r.table.name()))
    case other => sourceOf(other)
  }

  private def catalogEntity(t: CatalogTable): Entity = {
    val id = t.identifier
    val parts = id.catalog.getOrElse("spark_catalog") +: id.database.getOrElse("default") +: Seq(id.table)
    Entity(Some(lower(parts.mkString("."))), None, if (t.tableType == CatalogTableType.VIEW) "VIEW" else "TABLE")
  }

  /** The dataset a leaf (or a persistent view) stands for; None for anything else. */
  def sourceOf(p: LogicalPlan): Option[Entity] = p match {
    case v: View if !v.isTempView => Some(catalogEntity(v.desc).copy(kind = "VIEW"))
    case r: DataSourceV2Relation => Some(v2Entity(r.catalog, r.identifier, r.table.name()))
    case r: LogicalRelation => r.catalogTable.map(catalogEntity).orElse(r.relation match {
      case fs: HadoopFsRelation => fs.location.rootPaths.headOption.map(path => Entity(None, Some(path.toString), "PATH"))
      case _ => None
    })
    case _ => None
  }

  /** Every dataset `plan` reads, subqueries and CTE definitions included. */
  def sources(plan: LogicalPlan): Seq[Entity] = sourceOf(plan) match {
    case Some(e) => Seq(e)
    case None => (plan.children ++ plan.subqueries).flatMap(sources)
  }

  // ---- columns --------------------------------------------------------------------------------

  type Deps = mutable.HashMap[ExprId, Set[(Entity, String)]]

  /** For each attribute `plan` produces, the source columns its value is computed from. */
  def columnDeps(plan: LogicalPlan): Deps = {
    val deps: Deps = mutable.HashMap.empty
    val ctes = mutable.HashMap.empty[Long, Seq[Attribute]]
    def refDeps(e: Expression): Set[(Entity, String)] =
      e.references.toSeq.flatMap(a => deps.getOrElse(a.exprId, Set.empty)).toSet
    def visit(p: LogicalPlan): Unit = sourceOf(p) match {
      case Some(entity) => p.output.foreach(a => deps(a.exprId) = Set(entity -> a.name))
      case None =>
        p match {
          case w: WithCTE =>
            w.cteDefs.foreach { d => visit(d.child); ctes(d.id) = d.child.output }
            visit(w.plan)
          case r: CTERelationRef =>
            ctes.get(r.cteId).foreach(defOut => r.output.zip(defOut).foreach { case (a, d) =>
              deps(a.exprId) = deps.getOrElse(d.exprId, Set.empty) })
          case _ => p.children.foreach(visit)
        }
        p match {
          case u: Union => u.output.indices.foreach { i =>
            deps(u.output(i).exprId) = u.children.flatMap(c => deps.getOrElse(c.output(i).exprId, Set.empty)).toSet
          }
          case g: Generate => g.generatorOutput.foreach(a => deps(a.exprId) = refDeps(g.generator))
          case _ =>
        }
        p.expressions.foreach(_.foreach {
          case al: Alias => deps(al.exprId) = refDeps(al.child)
          case _ =>
        })
    }
    visit(plan)
    deps
  }
}
