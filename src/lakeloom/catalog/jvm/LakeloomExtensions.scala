// Session extension: Databricks SQL that Spark 4.2 does not parse, rewritten before parsing
// (USE CATALOG) or planned as lakeloom commands (volumes, CREATE CATALOG: LakeloomVolumes; SQL
// functions, row filters and column masks: rowsec/; the read-only samples catalog: samples/).
// Registered in spark.sql.extensions after Delta's, so it wraps Delta's parser (which wraps
// Spark's) and every SQL entry point -- spark.sql, expr, SQL files -- sees the rewrite.
package io.lakeloom.catalog

import org.apache.spark.sql.SparkSessionExtensions
import org.apache.spark.sql.catalyst.{FunctionIdentifier, TableIdentifier}
import org.apache.spark.sql.catalyst.expressions.Expression
import org.apache.spark.sql.catalyst.parser.{ParameterContext, ParserInterface}
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.lakeloom.rowsec.{RowSecurityExtensions, RowSecurityParser}
import org.apache.spark.sql.types.{DataType, StructType}

class LakeloomSparkExtensions extends (SparkSessionExtensions => Unit) {
  override def apply(extensions: SparkSessionExtensions): Unit = {
    extensions.injectParser((_, parser) => new LakeloomParser(parser))
    RowSecurityExtensions.inject(extensions)
    io.lakeloom.catalog.authz.Governance.install(extensions)
    org.apache.spark.sql.lakeloom.samples.SamplesRules.install(extensions)
  }
}

object LakeloomParser {
  // Leading whitespace and comments, then USE CATALOG (Databricks) -> SET CATALOG (Spark).
  private val UseCatalog =
    """(?is)^((?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*)USE\s+CATALOG(\s+.*)$""".r

  def rewrite(sql: String): String = sql match {
    case UseCatalog(prefix, rest) => s"${prefix}SET CATALOG$rest"
    case _ => sql
  }
}

class LakeloomParser(delegate: ParserInterface) extends ParserInterface {
  import LakeloomParser.rewrite

  private def lakeloomPlan(sqlText: String): Option[LogicalPlan] =
    io.lakeloom.catalog.authz.GrantSql.parse(sqlText, delegate).orElse(LakeloomVolumes.parse(sqlText, delegate))

  override def parsePlan(sqlText: String): LogicalPlan =
    lakeloomPlan(sqlText)
      .orElse(RowSecurityParser.parse(sqlText, delegate, delegate.parsePlan))
      .getOrElse(RowSecurityParser.adapt(delegate.parsePlan(rewrite(sqlText))))
  override def parsePlanWithParameters(sqlText: String, ctx: ParameterContext): LogicalPlan =
    lakeloomPlan(sqlText)
      .orElse(RowSecurityParser.parse(sqlText, delegate, delegate.parsePlanWithParameters(_, ctx)))
      .getOrElse(RowSecurityParser.adapt(delegate.parsePlanWithParameters(rewrite(sqlText), ctx)))
  override def parseExpression(sqlText: String): Expression = delegate.parseExpression(sqlText)
  override def parseTableIdentifier(sqlText: String): TableIdentifier = delegate.parseTableIdentifier(sqlText)
  override def parseFunctionIdentifier(sqlText: String): FunctionIdentifier =
    delegate.parseFunctionIdentifier(sqlText)
  override def parseMultipartIdentifier(sqlText: String): Seq[String] = delegate.parseMultipartIdentifier(sqlText)
  override def parseQuery(sqlText: String): LogicalPlan = delegate.parseQuery(sqlText)
  override def parseRoutineParam(sqlText: String): StructType = delegate.parseRoutineParam(sqlText)
  override def parseTableSchema(sqlText: String): StructType = delegate.parseTableSchema(sqlText)
  override def parseDataType(sqlText: String): DataType = delegate.parseDataType(sqlText)
}
