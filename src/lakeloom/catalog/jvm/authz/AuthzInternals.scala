// Spark internals governance needs; living under org.apache.spark lets scalac grant access to
// private[spark] members (as SparkInternals does for the catalog).
package org.apache.spark.sql.lakeloom.authz

import org.apache.spark.{SparkConf, SparkContext}
import org.apache.spark.sql.catalyst.analysis.AnalysisContext

object AuthzInternals {
  /** The running SparkContext, without creating one. */
  def activeContext: Option[SparkContext] = SparkContext.getActive

  /** The context's own (static) configuration; `getConf` would copy it on every call. */
  def staticConf: Option[SparkConf] = SparkContext.getActive.map(_.conf)

  private val walker = StackWalker.getInstance()
  private val ViewResolutionClass = "org.apache.spark.sql.catalyst.analysis.ViewResolution"

  /**
   * Whether the analyzer is checking a view's body on its own (ViewResolution checks the resolved
   * body right after leaving the view's analysis context, so only the stack tells).
   */
  def insideViewResolution: Boolean = AnalysisContext.get.nestedViewDepth > 0 ||
    walker.walk(frames => frames.limit(48).anyMatch(f => f.getClassName.startsWith(ViewResolutionClass)))
}
