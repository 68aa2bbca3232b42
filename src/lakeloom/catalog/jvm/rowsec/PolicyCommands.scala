// ALTER TABLE ... SET/DROP ROW FILTER, ALTER COLUMN ... SET/DROP MASK, and CREATE TABLE with
// WITH ROW FILTER / MASK clauses, for tables of lakeloom catalogs. The policy lives in the
// table's catalog entry (TablePolicies), which every process re-reads on every query.
package org.apache.spark.sql.lakeloom.rowsec

import java.util.Locale

import org.apache.spark.sql.{Row, SparkSession}
import org.apache.spark.sql.catalyst.expressions.Attribute
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.classic.Dataset
import org.apache.spark.sql.connector.catalog.{CatalogV2Util, Identifier}
import org.apache.spark.sql.execution.command.LeafRunnableCommand
import org.apache.spark.sql.types.StructType

import io.lakeloom.catalog.LakeloomCatalog

/** A table of a lakeloom catalog, found from the name parts a statement gave. */
case class PolicyTable(catalogName: String, catalog: LakeloomCatalog, ident: Identifier) {
  def fullName: String = s"$catalogName.${ident.namespace().head}.${ident.name()}"
  def schema: StructType = CatalogV2Util.v2ColumnsToStructType(catalog.loadTable(ident).columns())
}

object PolicyTable {
  def resolve(spark: SparkSession, parts: Seq[String]): PolicyTable = {
    val current = spark.catalog.currentCatalog()
    val (cat, schema, name) = parts match {
      case Seq(c, s, n) => (c, s, n)
      case Seq(s, n) => (current, s, n)
      case Seq(n) => (current, spark.catalog.currentDatabase, n)
      case _ => throw CatalogFunctions.analysisError(s"${parts.mkString(".")}: expected catalog.schema.table")
    }
    val plugin = InlineCatalogFunctions.classic(spark).sessionState.catalogManager.catalog(cat)
    val table = plugin match {
      case c: LakeloomCatalog =>
        PolicyTable(cat.toLowerCase(Locale.ROOT), c, Identifier.of(Array(schema), name))
      case _ => throw CatalogFunctions.analysisError("[ROW_COLUMN_ACCESS.NOT_A_UNITY_CATALOG_TABLE] Defining row " +
        s"filters or column masks is only supported for tables of lakeloom catalogs, not ${parts.mkString(".")}.")
    }
    table.catalog.entryStore.readEntry(table.ident) match {
      case Some(e) if table.catalog.entryStore.isView(e) => throw CatalogFunctions.analysisError(
        s"${table.fullName} is a view: row filters and column masks are set on tables")
      case Some(_) => table
      case None => throw CatalogFunctions.sparkError("TABLE_OR_VIEW_NOT_FOUND",
        "relationName" -> FunctionStatements.quoted(table.fullName), "searchPath" -> s"[${table.catalogName}]")
    }
  }
}

case class SetRowFilterCommand(table: Seq[String], function: Seq[String], args: Seq[PolicyArg])
    extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty

  override def run(spark: SparkSession): Seq[Row] = {
    val t = PolicyTable.resolve(spark, table)
    val f = PolicyValidation.rowFilter(spark, function, args, t.schema, "ALTER TABLE")
    RowSecurityGovernance.checkAssign(spark, t, f)
    t.catalog.entryStore.updateEntry(t.ident)(e => TablePolicy.setFilter(e, Some(RowFilterSpec(f.fullName, args))))
    Seq.empty
  }
}

case class DropRowFilterCommand(table: Seq[String]) extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty

  override def run(spark: SparkSession): Seq[Row] = {
    val t = PolicyTable.resolve(spark, table)
    RowSecurityGovernance.checkAssign(spark, t, null)
    t.catalog.entryStore.updateEntry(t.ident)(e => TablePolicy.setFilter(e, None))
    Seq.empty
  }
}

case class SetColumnMaskCommand(table: Seq[String], column: String, function: Seq[String], using: Seq[PolicyArg])
    extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty

  override def run(spark: SparkSession): Seq[Row] = {
    val t = PolicyTable.resolve(spark, table)
    val f = PolicyValidation.columnMask(spark, function, column, using, t.schema, "ALTER TABLE")
    RowSecurityGovernance.checkAssign(spark, t, f)
    t.catalog.entryStore.updateEntry(t.ident)(e => TablePolicy.setMask(e, column, Some(ColumnMaskSpec(f.fullName, using))))
    Seq.empty
  }
}

case class DropColumnMaskCommand(table: Seq[String], column: String) extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty

  override def run(spark: SparkSession): Seq[Row] = {
    val t = PolicyTable.resolve(spark, table)
    RowSecurityGovernance.checkAssign(spark, t, null)
    t.catalog.entryStore.updateEntry(t.ident)(e => TablePolicy.setMask(e, column, None))
    Seq.empty
  }
}

/** CREATE TABLE with WITH ROW FILTER / MASK clauses: Spark's plan for the rest, run with the policy pending. */
case class CreateTableWithPolicyCommand(create: LogicalPlan, table: Seq[String], policy: CreatePolicy)
    extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty
  override def innerChildren: Seq[LogicalPlan] = Seq(create)

  override def run(spark: SparkSession): Seq[Row] = {
    val catalog = if (table.length == 3) table.head else spark.catalog.currentCatalog()
    if (!InlineCatalogFunctions.isLakeloomCatalog(spark, catalog)) {
      throw CatalogFunctions.analysisError("[ROW_COLUMN_ACCESS.NOT_A_UNITY_CATALOG_TABLE] Defining row filters or " +
        s"column masks is only supported for tables of lakeloom catalogs, not ${table.mkString(".")}.")
    }
    // The functions are checked before anything is created; the columns when the store publishes.
    val functions = policy.filter.toSeq.map { case (parts, args) =>
      PolicyValidation.rowFilter(spark, parts, args, null, "CREATE TABLE")
    } ++ policy.masks.map { case (column, parts, using) =>
      PolicyValidation.columnMask(spark, parts, column, using, null, "CREATE TABLE")
    }
    RowSecurityGovernance.checkCreateWithPolicy(spark, table, functions)
    PendingPolicies.withPending(spark, policy) {
      Dataset.ofRows(InlineCatalogFunctions.classic(spark), create).collect()
    }
    Seq.empty
  }
}
