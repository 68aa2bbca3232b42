// What row security adds to a Spark session (called from LakeloomSparkExtensions).
package org.apache.spark.sql.lakeloom.rowsec

import org.apache.spark.sql.SparkSessionExtensions

object RowSecurityExtensions {
  def inject(extensions: SparkSessionExtensions): Unit = {
    extensions.injectResolutionRule(spark => new InlineCatalogFunctions(spark))
    extensions.injectResolutionRule(spark => new ApplyRowSecurity(spark))
    extensions.injectOptimizerRule(_ => new MarkerElimination)
  }
}
