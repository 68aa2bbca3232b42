// Whose work a plan analyzed on this thread is: the user's, or a running statement's own.
//
// Delta runs its own reads and writes of a table's files (MERGE's and UPDATE's scans, OPTIMIZE,
// log replay) inside the statement's SQL execution, so "an execution id is set" used to mean
// "internal". A foreachBatch function is the exception: the user's code runs inside the
// micro-batch's execution, and each of its statements must be checked (and filtered) like any
// other, so an execution whose plan writes to a foreachBatch sink counts as user code.
package org.apache.spark.sql.lakeloom.authz

import org.apache.spark.SparkContext
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.execution.SQLExecution

object ExecutionScope {
  private val ExecutionIdKey = "spark.sql.execution.id"

  /** True inside a running statement's own work; false for user code (foreachBatch included). */
  def internal: Boolean = SparkContext.getActive.exists { sc =>
    val id = sc.getLocalProperty(ExecutionIdKey)
    id != null && !userCode(id)
  }

  private def userCode(id: String): Boolean =
    try Option(SQLExecution.getQueryExecution(id.toLong)).exists(qe => writesToForeachBatch(qe.logical))
    catch { case _: NumberFormatException => false }

  private def writesToForeachBatch(plan: LogicalPlan): Boolean = plan.productIterator.exists {
    case sink: AnyRef => sink.getClass.getName.endsWith(".ForeachBatchSink")
    case _ => false
  }
}
