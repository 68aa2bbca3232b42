// Row filters and column masks on the target of UPDATE, DELETE and MERGE, as on Databricks: the
// statement only affects rows the principal can see, and what it reads of a masked column (in
// its condition, SET values and MERGE clauses) is the masked value. Delta's commands take their
// target as a bare table and scan whole files to rewrite them, so the policy cannot sit in the
// target plan; it goes into the statement instead:
//   UPDATE / DELETE   WHERE c            ->  WHERE c' AND filter(...)
//   MERGE             ON c               ->  ON c' AND filter(...)
//                     NOT MATCHED BY SOURCE [AND d]  ->  AND d' AND filter(...)
// where c', d' and every SET value read mask(col) for each masked target column. A row the
// filter hides never matches, so it is neither updated nor deleted (and a MERGE inserts its
// source row as a new one, as Databricks does). The added parts are wrapped in PolicyGuard so
// that the fixed-point analyzer applies them once.
package org.apache.spark.sql.lakeloom.rowsec

import org.apache.spark.sql.catalyst.expressions.{And, Attribute, AttributeReference, ExprId, Expression, Literal, TaggingExpression, UnaryExpression}
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan

/** A part of a DML statement that row security added: `kind` is "filter" or "mask". */
case class PolicyGuard(child: Expression, kind: String) extends UnaryExpression with TaggingExpression {
  override protected def withNewChildInternal(newChild: Expression): PolicyGuard = copy(child = newChild)
}

object SecureDml {
  /** Delta's row-level write nodes, matched by name (the catalog jar is compiled against Spark alone). */
  val Targets: Set[String] = Set("DeltaUpdateTable", "DeltaDelete", "DeltaMergeInto")

  private def field(node: AnyRef, name: String): AnyRef = node.getClass.getMethod(name).invoke(node)

  /** `node` with the target table's policy applied, once it is resolved. */
  def secure(rule: ApplyRowSecurity, original: LogicalPlan): LogicalPlan = {
    val node = bareTarget(original)
    if (!node.resolved) return node
    val leaves = node.children.head.collectLeaves()
    if (leaves.length != 1) return node
    rule.policyOn(leaves.head) match {
      case None => node
      case Some((_, filter, masks)) =>
        val dml = new Rewrite(filter, masks)
        val args = node.productIterator.toArray.map(_.asInstanceOf[AnyRef])
        node.nodeName match {
          case "DeltaDelete" => // (target, condition: Option)
            args(1) = Some(dml.condition(field(node, "condition").asInstanceOf[Option[Expression]]))
          case "DeltaUpdateTable" => // (target, updateColumns, updateExpressions, condition: Option)
            args(2) = field(node, "updateExpressions").asInstanceOf[Seq[Expression]].map(dml.read)
            args(3) = Some(dml.condition(field(node, "condition").asInstanceOf[Option[Expression]]))
          case "DeltaMergeInto" => // (target, source, condition, matched, notMatched, notMatchedBySource, ...)
            args(2) = dml.condition(Some(field(node, "condition").asInstanceOf[Expression]))
            args(3) = field(node, "matchedClauses").asInstanceOf[Seq[Expression]].map(dml.read)
            args(5) = field(node, "notMatchedBySourceClauses").asInstanceOf[Seq[Expression]].map(dml.bySource)
        }
        val rewritten = node.makeCopy(args)
        if (rewritten.fastEquals(node)) node else rewritten
    }
  }

  /**
   * DeltaTable's API (`delete`, `update`, `merge`) passes its DataFrame's analyzed plan as the
   * target: a read row security has already wrapped. Delta needs the bare table again (before
   * it turns Spark's node into its own, or it refuses a "partial scan"), with the statement's
   * references moved from the masked columns back to the table's own.
   */
  def bareTarget(node: LogicalPlan): LogicalPlan = {
    val target = node.children.head
    var moved = Map.empty[ExprId, Attribute]
    val bare = target.transformUp { case m: RowSecurityMarker =>
      val leaf = m.child.collectLeaves().head
      moved ++= m.output.zip(leaf.output).collect { case (o, l) if o.exprId != l.exprId => o.exprId -> l }
      leaf
    }
    if (bare eq target) return node
    val withBare = node.withNewChildren(bare +: node.children.tail)
    if (moved.isEmpty) withBare else withBare.transformExpressions {
      case a: AttributeReference if moved.contains(a.exprId) => moved(a.exprId).withQualifier(a.qualifier)
    }
  }

  private class Rewrite(filter: Option[Expression], masks: Map[ExprId, Expression]) {
    /** `e` reading masked values: each masked target column is replaced by its mask. */
    def read(e: Expression): Expression = e match {
      case g: PolicyGuard => g
      case a: AttributeReference if masks.contains(a.exprId) => PolicyGuard(masks(a.exprId), "mask")
      case other if other.children.isEmpty => other
      case other =>
        val children = other.children.map(read)
        if (children.zip(other.children).forall { case (n, o) => n eq o }) other else other.withNewChildren(children)
    }

    private def filtered(e: Expression): Boolean = e.exists {
      case PolicyGuard(_, "filter") => true
      case _ => false
    }

    /** A row condition reading masked values and holding only rows the filter lets through. */
    def condition(c: Option[Expression]): Expression = {
      val read = c.map(this.read).getOrElse(Literal.TrueLiteral)
      filter match {
        case Some(f) if !filtered(read) => And(read, PolicyGuard(f, "filter"))
        case _ => read
      }
    }

    /** A WHEN NOT MATCHED BY SOURCE clause: only for target rows the filter lets through. */
    def bySource(clause: Expression): Expression = {
      val read = this.read(clause)
      val cond = field(read, "condition").asInstanceOf[Option[Expression]]
      if (filter.isEmpty || cond.exists(filtered)) return read
      val args = read.productIterator.toArray.map(_.asInstanceOf[AnyRef])
      args(0) = Some(condition(cond))
      read.makeCopy(args)
    }
  }
}
