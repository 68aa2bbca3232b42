// Row filters and column masks, applied by rewriting the analyzed plan (Apache Kyuubi's
// RuleApplyRowFilter / RuleApplyDataMasking, in one rule). Every resolved read of a lakeloom
// table -- SQL, spark.table, readStream.table, DeltaTable.toDF, time travel, the inside of a
// view, a MERGE source -- whose catalog entry has a policy becomes
//
//   RowSecurityMarker(Project([mask_c(c, ...) AS c, ...], Filter(filter(...), relation)))
//
// The marker is never entered again, so the fixed-point analyzer (and re-analysis of a
// DataFrame's plan) applies the policy once; MarkerElimination drops it in the optimizer. A mask
// gives its column a new expression id (the column is a new value); references above the read
// that the analyzer already bound to the old id are moved to the new one in the same pass
// (Kyuubi's stage 1), so joins, predicates and aggregations above all see masked values.
package org.apache.spark.sql.lakeloom.rowsec

import java.util.Locale

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.expressions.{Alias, Attribute, AttributeReference, ExprId, Expression, NamedExpression, OuterReference, SubqueryExpression}
import org.apache.spark.sql.catalyst.plans.logical.{DeleteFromTable, Filter, LogicalPlan, MergeIntoTable, Project, UnaryNode, UpdateTable}
import org.apache.spark.sql.catalyst.rules.Rule
import org.apache.spark.sql.catalyst.streaming.StreamingRelationV2
import org.apache.spark.sql.connector.catalog.Identifier
import org.apache.spark.sql.execution.datasources.LogicalRelation
import org.apache.spark.sql.execution.datasources.v2.DataSourceV2Relation
import org.apache.spark.sql.execution.streaming.runtime.StreamingRelation

import org.apache.spark.sql.lakeloom.authz.ExecutionScope

import io.lakeloom.catalog.LakeloomCatalog

/** Wraps a read that row security has rewritten; `table` names it in plan strings. */
case class RowSecurityMarker(child: LogicalPlan, table: String) extends UnaryNode {
  override def output: Seq[Attribute] = child.output
  override protected def withNewChildInternal(newChild: LogicalPlan): RowSecurityMarker = copy(child = newChild)
}

class MarkerElimination extends Rule[LogicalPlan] {
  // PolicyGuards only reach the plans Delta's DML commands build while they run.
  override def apply(plan: LogicalPlan): LogicalPlan = {
    val unmarked = plan.transformUp { case RowSecurityMarker(child, _) => child }
    if (!ExecutionScope.internal) unmarked
    else unmarked.transformUpWithSubqueries { case p => p.transformExpressions { case PolicyGuard(c, _) => c } }
  }
}

object ApplyRowSecurity {
  // Row-level writes whose target must stay the bare Delta relation (Delta matches on it); only
  // the other children (a MERGE source) are reads. Delta's own nodes are matched by name: the
  // catalog jar is compiled against Spark alone.
  private val DeltaTargetFirst = Set("DeltaMergeInto")
  // FakeLogicalPlan: Delta resolves MERGE expressions against the real children inside it; a
  // policy applied there would bind them to attributes the real source does not have.
  private val DeltaTargetOnly = Set("DeltaUpdateTable", "DeltaDelete", "RestoreTableStatement", "FakeLogicalPlan")
}

class ApplyRowSecurity(spark: SparkSession) extends Rule[LogicalPlan] {
  import ApplyRowSecurity._

  private type Mapping = Map[ExprId, Attribute]

  // Delta's own scans inside a running UPDATE/DELETE/MERGE read the whole files they rewrite:
  // filtering them would drop (and masking would overwrite) rows the statement never touched.
  override def apply(plan: LogicalPlan): LogicalPlan = if (ExecutionScope.internal) plan else rewrite(plan)._1

  private def rewrite(plan: LogicalPlan): (LogicalPlan, Mapping) = plan match {
    case m: RowSecurityMarker => (m, Map.empty)
    case m: MergeIntoTable => SecureDml.bareTarget(m) match {
      case b: MergeIntoTable => rewriteChildren(b, Set(b.sourceTable))
      case other => (other, Map.empty)
    }
    case _: UpdateTable | _: DeleteFromTable => (SecureDml.bareTarget(plan), Map.empty)
    case p if SecureDml.Targets(p.nodeName) && !DeltaTargetFirst(p.nodeName) => (SecureDml.secure(this, p), Map.empty)
    case p if DeltaTargetOnly(p.nodeName) => (p, Map.empty)
    case p if DeltaTargetFirst(p.nodeName) =>
      val (node, mapping) = rewriteChildren(p, p.children.drop(1).toSet)
      (SecureDml.secure(this, node), mapping)
    case leaf if leaf.children.isEmpty => tableOf(leaf).flatMap(secure(leaf, _)).getOrElse((leaf, Map.empty))
    case other => rewriteChildren(other, other.children.toSet)
  }

  private def rewriteChildren(node: LogicalPlan, reads: Set[LogicalPlan]): (LogicalPlan, Mapping) = {
    val results = node.children.map(c => if (reads.exists(_ eq c)) rewrite(c) else (c, Map.empty[ExprId, Attribute]))
    if (results.zip(node.children).forall { case ((n, m), c) => (n eq c) && m.isEmpty }) return (node, Map.empty)
    // Left-biased: a Union's output is its first child's attributes.
    val mapping = results.foldLeft(Map.empty[ExprId, Attribute]) { case (acc, (_, m)) => acc ++ (m -- acc.keys) }
    val withChildren = node.withNewChildren(results.map(_._1))
    (if (mapping.isEmpty) withChildren else remap(withChildren, mapping), mapping)
  }

  private def remap(node: LogicalPlan, mapping: Mapping): LogicalPlan = {
    def swap(e: Expression): Expression = e.transformUp {
      case a: AttributeReference if mapping.contains(a.exprId) => mapping(a.exprId).withQualifier(a.qualifier)
      case s: SubqueryExpression => s.withNewPlan(s.plan.transformAllExpressionsWithSubqueries {
        case OuterReference(a: AttributeReference) if mapping.contains(a.exprId) =>
          OuterReference(mapping(a.exprId).withQualifier(a.qualifier))
      })
    }
    node.transformExpressions { case e => swap(e) }
  }

  /** The lakeloom table a leaf reads, if any. */
  private def tableOf(leaf: LogicalPlan): Option[(String, Identifier)] = {
    def v1(ct: Option[org.apache.spark.sql.catalyst.catalog.CatalogTable]) = ct.flatMap { t =>
      t.identifier.catalog.map(c => (c, Identifier.of(t.identifier.database.toArray, t.identifier.table)))
    }
    val found = leaf match {
      case r: DataSourceV2Relation => for (c <- r.catalog; i <- r.identifier) yield (c.name(), i)
      case r: LogicalRelation => v1(r.catalogTable)
      case r: StreamingRelation => v1(r.dataSource.catalogTable)
      case r: StreamingRelationV2 => for (c <- r.catalog; i <- r.identifier) yield (c.name(), i)
      case _ => None
    }
    found.filter { case (c, i) => i.namespace().length == 1 && InlineCatalogFunctions.isLakeloomCatalog(spark, c) }
  }

  private def policyOf(catalog: String, ident: Identifier): TablePolicy =
    InlineCatalogFunctions.classic(spark).sessionState.catalogManager.catalog(catalog) match {
      case c: LakeloomCatalog => c.entryStore.readEntry(ident).map(TablePolicy.fromEntry).getOrElse(TablePolicy.Empty)
      case _ => TablePolicy.Empty
    }

  /**
   * The policy of the table `leaf` reads, over `leaf.output`: its name, the filter, and each
   * masked column's new value (by the column's expression id). None when it has no policy.
   */
  def policyOn(leaf: LogicalPlan): Option[(String, Option[Expression], Map[ExprId, Expression])] =
    tableOf(leaf).flatMap(compile(leaf, _))

  private def compile(leaf: LogicalPlan, table: (String, Identifier))
      : Option[(String, Option[Expression], Map[ExprId, Expression])] = {
    val (catalog, ident) = table
    val policy = policyOf(catalog, ident)
    if (policy.isEmpty) return None
    val name = s"${catalog.toLowerCase(Locale.ROOT)}.${ident.namespace().head}.${ident.name()}".toLowerCase(Locale.ROOT)
    val parser = InlineCatalogFunctions.classic(spark).sessionState.sqlParser
    def column(n: String): Attribute = leaf.output.find(_.name.equalsIgnoreCase(n)).getOrElse(
      throw CatalogFunctions.analysisError(s"[ROW_COLUMN_ACCESS] The row filter or column mask of $name refers " +
        s"to the column $n, which the table no longer has; fix or drop the policy (ALTER TABLE $name ...)."))
    def arg(a: PolicyArg): Expression = a.column.map(column).getOrElse(parser.parseExpression(a.literal.get))
    def call(function: String, args: Seq[Expression]): Expression = {
      val parts = function.split('.').toSeq
      val stored = InlineCatalogFunctions.functionsOf(spark, parts.head)
        .load(Identifier.of(Array(parts(1)), parts(2))).getOrElse(throw CatalogFunctions.analysisError(
          s"[ROW_COLUMN_ACCESS] The function $function of the row filter or column mask of $name does not exist " +
          "any more; no row of the table can be read until it is recreated or the policy is dropped."))
      if (stored.params.length != args.length) {
        throw CatalogFunctions.analysisError(s"[ROW_COLUMN_ACCESS] The function $function takes " +
          s"${stored.params.length} arguments now, but the policy of $name passes ${args.length}.")
      }
      InlineCatalogFunctions.inline(parser, stored, args)
    }
    val filter = policy.filter.map(f => call(f.function, f.args.map(arg)))
    val masks = leaf.output.flatMap { a =>
      policy.masks.get(a.name.toLowerCase(Locale.ROOT)).map { m =>
        a.exprId -> (org.apache.spark.sql.catalyst.expressions.Cast(
          call(m.function, a +: m.using.map(arg)), a.dataType): Expression)
      }
    }.toMap
    policy.masks.keys.foreach(column) // a mask on a vanished column is an error, not a silent no-op
    Some((name, filter, masks))
  }

  private def secure(leaf: LogicalPlan, table: (String, Identifier)): Option[(LogicalPlan, Mapping)] =
    compile(leaf, table).map { case (name, filter, masks) => secured(leaf, name, filter, masks) }

  private def secured(leaf: LogicalPlan, name: String, filter: Option[Expression], masks: Map[ExprId, Expression])
      : (LogicalPlan, Mapping) = {
    val filtered = filter.map(Filter(_, leaf)).getOrElse(leaf)
    val masked = masks.map { case (id, e) =>
      val a = leaf.output.find(_.exprId == id).get
      id -> Alias(e, a.name)(qualifier = a.qualifier)
    }
    val body = if (masked.isEmpty) filtered else Project(leaf.output.map { a =>
      masked.get(a.exprId).map(n => n: NamedExpression).getOrElse(a)
    }, filtered)
    val mapping: Mapping = masked.map { case (old, alias) =>
      val a = leaf.output.find(_.exprId == old).get
      old -> AttributeReference(a.name, a.dataType, nullable = true, a.metadata)(alias.exprId, a.qualifier)
    }
    (RowSecurityMarker(body, name), mapping)
  }
}
