// Spark internals governance needs; living under org.apache.spark lets scalac grant access to
// private[spark] members (as SparkInternals does for the catalog).
package org.apache.spark.sql.lakeloom.authz

import org.apache.spark.{SparkConf, SparkContext}
import org.apache.spark.sql.catalyst.analysis.AnalysisContext
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.catalyst.rules.Rule

object AuthzInternals {
  /** The running SparkContext, without creating one. */
  def activeContext: Option[SparkContext] = SparkContext.getActive

  /** The context's own (static) configuration; `getConf` would copy it on every call. */
  def staticConf: Option[SparkConf] = SparkContext.getActive.map(_.conf)

  private val walker = StackWalker.getInstance()
  private val ViewResolutionClass = "org.apache.spark.sql.catalyst.analysis.ViewResolution"

  // Set on this thread when the analyzer resolved a persistent view's body (NoteViewBodies);
  // cleared once no view is being resolved here any more.
  private val viewBodyResolved = new ThreadLocal[java.lang.Boolean] {
    override def initialValue(): java.lang.Boolean = false
  }

  /**
   * Whether the analyzer is checking a view's body on its own (ViewResolution checks the resolved
   * body right after leaving the view's analysis context, so only the stack tells). Walking the
   * stack costs more than the rest of a small query's check, so it is only walked when a view's
   * body was resolved on this thread since the last walk found no view being resolved: a body is
   * always resolved, by the same thread, before ViewResolution checks it.
   */
  def insideViewResolution: Boolean = AnalysisContext.get.nestedViewDepth > 0 || viewBodyResolved.get && {
    val inside = walker.walk(frames => frames.limit(48).anyMatch(f => f.getClassName.startsWith(ViewResolutionClass)))
    if (!inside && !walker.walk(frames => frames.anyMatch(f => f.getClassName.startsWith(ViewResolutionClass)))) {
      viewBodyResolved.set(false)
    }
    inside
  }

  /** Resolution rule: notes that this thread is resolving a persistent view's body (see insideViewResolution). */
  object NoteViewBodies extends Rule[LogicalPlan] {
    override def apply(plan: LogicalPlan): LogicalPlan = {
      if (AnalysisContext.get.nestedViewDepth > 0) viewBodyResolved.set(true)
      plan
    }
  }
}
