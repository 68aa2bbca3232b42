// Who is acting, and the privilege checks of row security statements. Identity and grants
// belong to the governance module (io.lakeloom.catalog.authz); this is the one place row
// security asks them.
package org.apache.spark.sql.lakeloom.rowsec

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.connector.catalog.Identifier
import org.apache.spark.util.Utils

object RowSecurityGovernance {
  /** The principal a statement runs as: the run's principal, else the OS user. */
  def currentPrincipal(spark: SparkSession): String =
    Option(spark.sparkContext.getLocalProperty("lakeloom.principal")).filter(_.nonEmpty)
      .getOrElse(Utils.getCurrentUserName())

  /** CREATE [OR REPLACE] FUNCTION: CREATE FUNCTION on the schema (owner to replace). */
  def checkCreateFunction(spark: SparkSession, catalog: String, ident: Identifier, replacing: Boolean): Unit = ()

  /** DROP FUNCTION: owner or MANAGE on the function. */
  def checkManageFunction(spark: SparkSession, catalog: String, ident: Identifier): Unit = ()

  /** Setting or dropping a filter/mask: owner or MANAGE on the table; EXECUTE on the function `f` (if any). */
  def checkAssign(spark: SparkSession, table: PolicyTable, f: StoredFunction): Unit = ()
}
