// Row filters and column masks as stored in a table's catalog entry, in Unity Catalog's field
// names plus the constant arguments UC's SQL allows:
//   "row_filter":   {"function_name": "main.sec.us_only", "input_column_names": ["region"],
//                    "arguments": [{"column": "region"}]}
//   "column_masks": {"ssn": {"function_name": "main.sec.mask_ssn", "using_column_names": ["region"],
//                    "arguments": [{"column": "region"}]}}
// Assignments are checked here (function exists, arity, types) with Databricks' ROW_COLUMN_ACCESS
// error texts, so a stored policy always names a function that fitted the table when it was set.
package org.apache.spark.sql.lakeloom.rowsec

import java.util.Locale

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.analysis.{UnresolvedAttribute, UnresolvedFunction}
import org.apache.spark.sql.catalyst.expressions.{Cast, Expression}
import org.apache.spark.sql.connector.catalog.Identifier
import org.apache.spark.sql.types.{BooleanType, DataType, StructType}

/** A function argument: a column of the table or a constant (kept as SQL text). */
case class PolicyArg(column: Option[String], literal: Option[String]) {
  def describe: String = column.getOrElse(literal.get)
}

object PolicyArg {
  /** Arguments as written between the parentheses of `ON (...)` / `USING COLUMNS (...)`. */
  def parseList(spark: SparkSession, text: String): Seq[PolicyArg] = {
    if (text.trim.isEmpty) return Seq.empty
    val parser = InlineCatalogFunctions.classic(spark).sessionState.sqlParser
    val call = parser.parseExpression(s"lakeloom_args($text)").asInstanceOf[UnresolvedFunction]
    call.arguments.map {
      case UnresolvedAttribute(Seq(name)) => PolicyArg(Some(name.toLowerCase(Locale.ROOT)), None)
      case u: UnresolvedAttribute => throw CatalogFunctions.analysisError(
        s"[ROW_COLUMN_ACCESS.ASSIGNED_ROW_FILTER_MULTI_PART_COLUMN_NAME] This statement attempted to assign a row " +
        s"filter or mask with the column ${u.sql}, which has multiple name parts; this is invalid.")
      case e if !e.exists(x => x.isInstanceOf[UnresolvedAttribute] || x.isInstanceOf[UnresolvedFunction]) =>
        PolicyArg(None, Some(e.sql))
      case e => throw CatalogFunctions.analysisError(
        s"row filter and mask arguments are column names or constants, not ${e.sql}")
    }
  }
}

case class RowFilterSpec(function: String, args: Seq[PolicyArg])
case class ColumnMaskSpec(function: String, using: Seq[PolicyArg])

case class TablePolicy(filter: Option[RowFilterSpec], masks: Map[String, ColumnMaskSpec]) {
  def isEmpty: Boolean = filter.isEmpty && masks.isEmpty
}

object TablePolicy {
  val Empty: TablePolicy = TablePolicy(None, Map.empty)
  private val Mapper = new ObjectMapper()

  private def argsJson(node: ObjectNode, namesField: String, args: Seq[PolicyArg]): ObjectNode = {
    val names = node.putArray(namesField)
    args.flatMap(_.column).foreach(names.add)
    val all = node.putArray("arguments")
    args.foreach { a =>
      val o = all.addObject()
      a.column.foreach(o.put("column", _))
      a.literal.foreach(o.put("literal", _))
    }
    node
  }

  private def argsFrom(node: JsonNode): Seq[PolicyArg] =
    Option(node.get("arguments")).toSeq.flatMap(_.elements().asScala).map { a =>
      PolicyArg(Option(a.get("column")).map(_.asText()), Option(a.get("literal")).map(_.asText()))
    }

  def filterJson(f: RowFilterSpec): ObjectNode =
    argsJson(Mapper.createObjectNode().put("function_name", f.function), "input_column_names", f.args)

  def maskJson(m: ColumnMaskSpec): ObjectNode =
    argsJson(Mapper.createObjectNode().put("function_name", m.function), "using_column_names", m.using)

  /** The policy recorded in a table entry (empty when there is none). */
  def fromEntry(entry: JsonNode): TablePolicy = {
    val filter = Option(entry.get("row_filter")).filterNot(_.isNull).map { f =>
      RowFilterSpec(f.get("function_name").asText(), argsFrom(f))
    }
    val masks = Option(entry.get("column_masks")).filterNot(_.isNull).map(_.properties().asScala.map { e =>
      e.getKey.toLowerCase(Locale.ROOT) -> ColumnMaskSpec(e.getValue.get("function_name").asText(), argsFrom(e.getValue))
    }.toMap).getOrElse(Map.empty)
    TablePolicy(filter, masks)
  }

  def setFilter(entry: ObjectNode, filter: Option[RowFilterSpec]): Unit = filter match {
    case Some(f) => entry.set[JsonNode]("row_filter", filterJson(f))
    case None => entry.remove("row_filter")
  }

  def setMask(entry: ObjectNode, column: String, mask: Option[ColumnMaskSpec]): Unit = {
    val masks = Option(entry.get("column_masks")).collect { case o: ObjectNode => o }
      .getOrElse(entry.putObject("column_masks"))
    mask match {
      case Some(m) => masks.set[JsonNode](column.toLowerCase(Locale.ROOT), maskJson(m))
      case None => masks.remove(column.toLowerCase(Locale.ROOT))
    }
    if (masks.isEmpty) entry.remove("column_masks")
  }
}

/** Checks an assignment against the function and the table's columns; returns the function. */
object PolicyValidation {
  private def column(schema: StructType, name: String, statement: String): DataType =
    schema.fields.find(_.name.equalsIgnoreCase(name)).map(_.dataType).getOrElse(
      throw CatalogFunctions.sparkError("UNRESOLVED_COLUMN.WITH_SUGGESTION", "objectName" -> s"`$name`",
        "proposal" -> schema.fieldNames.map(n => s"`$n`").mkString(", ")))

  private def lookup(spark: SparkSession, parts: Seq[String]): Option[StoredFunction] =
    InlineCatalogFunctions.qualify(spark, parts).flatMap { case (catalog, ident) =>
      InlineCatalogFunctions.functionsOf(spark, catalog).load(ident)
    }

  private def checkArgs(
      spark: SparkSession, f: StoredFunction, args: Seq[PolicyArg], schema: StructType, statement: String): Unit =
    if (schema != null) f.params.zip(args).foreach { case (p, a) =>
      val from = a.column.map(column(schema, _, statement)).getOrElse(
        InlineCatalogFunctions.classic(spark).sessionState.sqlParser.parseExpression(a.literal.get) match {
          case l: org.apache.spark.sql.catalyst.expressions.Literal => l.dataType
          case e => p.dataType // constant expressions are cast like any argument
        })
      if (!Cast.canCast(from, p.dataType)) {
        throw CatalogFunctions.analysisError(s"$statement: ${a.describe} (${from.sql}) cannot be passed to parameter " +
          s"${p.name} ${p.dataType.sql} of ${f.fullName}")
      }
    }

  /** The filter function; a null `schema` checks the function alone (before a CREATE). */
  def rowFilter(spark: SparkSession, parts: Seq[String], args: Seq[PolicyArg], schema: StructType,
      statement: String): StoredFunction = {
    val f = lookup(spark, parts).getOrElse(throw CatalogFunctions.analysisError(
      s"[ROW_COLUMN_ACCESS.ASSIGNED_ROW_FILTER_FUNCTION_NOT_FOUND] A $statement statement attempted to assign a " +
      s"row filter to a table, but the requested function ${parts.mkString(".")} did not match the name of any " +
      "SQL user-defined function in the catalog."))
    if (f.params.length != args.length) {
      throw CatalogFunctions.analysisError(
        s"[ROW_COLUMN_ACCESS.ASSIGNED_ROW_FILTER_WRONG_NUMBER_OF_COLUMNS] This statement attempted to assign a row " +
        s"filter to a table, but the number of requested target table column names (${args.length}) did not match " +
        s"the number of arguments in the row filter function (${f.params.map(_.name).mkString(", ")}).")
    }
    if (f.returnType != BooleanType) {
      throw CatalogFunctions.analysisError(s"[ROW_COLUMN_ACCESS] The row filter function ${f.fullName} returns " +
        s"${f.returnType.sql}; a row filter function must return BOOLEAN.")
    }
    args.flatMap(_.column).groupBy(identity).collectFirst { case (c, xs) if xs.size > 1 => c }.foreach { c =>
      throw CatalogFunctions.analysisError(s"[ROW_COLUMN_ACCESS.ASSIGNED_ROW_FILTER_DUPLICATE_COLUMN_NAME] A " +
        s"$statement statement attempted to assign a row filter to a table, but two or more of the referenced " +
        s"columns had the same name $c, which is invalid.")
    }
    checkArgs(spark, f, args, schema, statement)
    f
  }

  /** The mask function for `target`; a null `schema` checks the function alone (before a CREATE). */
  def columnMask(spark: SparkSession, parts: Seq[String], target: String, using: Seq[PolicyArg],
      schema: StructType, statement: String): StoredFunction = {
    val targetType = if (schema == null) null else column(schema, target, statement)
    val f = lookup(spark, parts).getOrElse(throw CatalogFunctions.analysisError(
      s"[ROW_COLUMN_ACCESS.ASSIGNED_COLUMN_MASK_FUNCTION_NOT_FOUND] A $statement statement attempted to assign a " +
      s"mask to a column $target, but the requested function ${parts.mkString(".")} did not match the name of " +
      "any SQL user-defined function in the catalog."))
    if (using.exists(_.column.exists(_.equalsIgnoreCase(target)))) {
      throw CatalogFunctions.analysisError(
        s"[ROW_COLUMN_ACCESS.ASSIGNED_COLUMN_MASK_USING_COLUMN_NAME_SAME_AS_TARGET_COLUMN] The column $target had " +
        "the same name as the target column, which is invalid; please remove the column from the USING COLUMNS " +
        "list and retry the command.")
    }
    if (f.params.length != using.length + 1) {
      throw CatalogFunctions.analysisError(
        s"[ROW_COLUMN_ACCESS.ASSIGNED_COLUMN_MASK_WRONG_NUMBER_OF_COLUMNS] This statement attempted to assign a " +
        s"mask to a column, but the number of requested names in the USING COLUMNS list (${using.length}) plus the " +
        s"single target column name did not match the number of arguments in the column mask function " +
        s"(${f.params.map(_.name).mkString(", ")}).")
    }
    if (targetType != null && !Cast.canCast(f.returnType, targetType)) {
      throw CatalogFunctions.analysisError(s"[ROW_COLUMN_ACCESS] The column mask function " +
        s"${f.fullName} returns ${f.returnType.sql}, which cannot be cast to the type ${targetType.sql} of column " +
        s"$target.")
    }
    checkArgs(spark, f, PolicyArg(Some(target), None) +: using, schema, statement)
    f
  }
}

/**
 * A policy given in CREATE TABLE, waiting for the catalog store to publish the table: the store
 * attaches it to the new entry, so the table never exists without its filter and masks.
 */
object PendingPolicies {
  private val pending = new ThreadLocal[Option[(SparkSession, CreatePolicy)]] {
    override def initialValue(): Option[(SparkSession, CreatePolicy)] = None
  }

  def withPending[T](spark: SparkSession, policy: CreatePolicy)(body: => T): T = {
    pending.set(Some((spark, policy)))
    try body finally pending.remove()
  }

  /** Called by the store's createTable before it publishes `entry` with `schema`. */
  def attach(entry: ObjectNode, schema: StructType): Unit = pending.get().foreach { case (spark, policy) =>
    pending.remove()
    val statement = "CREATE TABLE"
    policy.filter.foreach { case (parts, args) =>
      val f = PolicyValidation.rowFilter(spark, parts, args, schema, statement)
      TablePolicy.setFilter(entry, Some(RowFilterSpec(f.fullName, args)))
    }
    policy.masks.foreach { case (column, parts, using) =>
      val f = PolicyValidation.columnMask(spark, parts, column, using, schema, statement)
      TablePolicy.setMask(entry, column, Some(ColumnMaskSpec(f.fullName, using)))
    }
  }
}

/** Filter and masks written in a CREATE TABLE statement (function names as written). */
case class CreatePolicy(
    filter: Option[(Seq[String], Seq[PolicyArg])], masks: Seq[(String, Seq[String], Seq[PolicyArg])])
