// CREATE / DROP / SHOW / DESCRIBE FUNCTION for lakeloom catalogs. Spark parses these statements
// itself; FunctionStatements.adapt swaps its plans for these commands, which fall back to Spark's
// plan when the name is not in a lakeloom catalog (spark_catalog, temporary functions, built-ins).
package org.apache.spark.sql.lakeloom.rowsec

import java.util.Locale

import org.apache.spark.sql.{Row, SparkSession}
import org.apache.spark.sql.catalyst.FunctionIdentifier
import org.apache.spark.sql.catalyst.analysis.{CurrentNamespace, UnresolvedFunctionName, UnresolvedIdentifier, UnresolvedNamespace}
import org.apache.spark.sql.catalyst.expressions.{Alias, Attribute, AttributeReference, Cast, Literal}
import org.apache.spark.sql.catalyst.plans.logical.{CreateUserDefinedFunction, DescribeFunction, DropFunction, LogicalPlan, OneRowRelation, Project, ShowFunctions}
import org.apache.spark.sql.catalyst.util.StringUtils
import org.apache.spark.sql.classic.Dataset
import org.apache.spark.sql.connector.catalog.Identifier
import org.apache.spark.sql.execution.command.LeafRunnableCommand
import org.apache.spark.sql.types.{StringType, StructType}

object FunctionStatements {
  /** Spark's plan for a function statement, or ours when it may concern a lakeloom catalog. */
  def adapt(plan: LogicalPlan): LogicalPlan = plan match {
    case c @ CreateUserDefinedFunction(UnresolvedIdentifier(parts, _), _, _, _, _, _, _, _, _, _, _, _, _) =>
      CreateCatalogFunctionCommand(parts, c)
    case d @ DropFunction(UnresolvedIdentifier(parts, _), ifExists) => DropCatalogFunctionCommand(parts, ifExists, d)
    case d @ DropFunction(UnresolvedFunctionName(parts, _, _), ifExists) => DropCatalogFunctionCommand(parts, ifExists, d)
    case d @ DescribeFunction(UnresolvedFunctionName(parts, _, _), extended) =>
      DescribeCatalogFunctionCommand(parts, extended, d)
    case s @ ShowFunctions(ns, user, system, pattern, _) if ns.isInstanceOf[UnresolvedNamespace] || ns == CurrentNamespace =>
      val parts = ns match { case UnresolvedNamespace(p, _) => Some(p); case _ => None }
      ShowCatalogFunctionsCommand(parts, user, system, pattern, s)
    case other => other
  }

  def runOriginal(spark: SparkSession, plan: LogicalPlan): Seq[Row] =
    Dataset.ofRows(InlineCatalogFunctions.classic(spark), plan).collect().toSeq

  def quoted(name: String): String = name.split('.').map(p => s"`$p`").mkString(".")

  def notFound(name: String): Throwable = CatalogFunctions.sparkError("ROUTINE_NOT_FOUND", "routineName" -> quoted(name))
}

case class CreateCatalogFunctionCommand(parts: Seq[String], original: CreateUserDefinedFunction)
    extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty

  override def run(spark: SparkSession): Seq[Row] = {
    val (catalog, ident) = InlineCatalogFunctions.qualify(spark, parts) match {
      case Some(q) => q
      case None => return FunctionStatements.runOriginal(spark, original)
    }
    val fullName = s"$catalog.${ident.namespace().head}.${ident.name()}"
    if (original.isTableFunc) {
      throw CatalogFunctions.analysisError(s"CREATE FUNCTION $fullName: table functions (RETURNS TABLE) are not " +
        "supported in lakeloom catalogs; write a scalar SQL function")
    }
    if (!original.language.name.equalsIgnoreCase("SQL")) {
      throw CatalogFunctions.analysisError(s"CREATE FUNCTION $fullName: only LANGUAGE SQL functions can be stored " +
        s"in lakeloom catalogs, not ${original.language.name}")
    }
    val functions = InlineCatalogFunctions.functionsOf(spark, catalog)
    val existing = functions.load(ident)
    if (existing.isDefined && original.ignoreIfExists) return Seq.empty
    RowSecurityGovernance.checkCreateFunction(spark, catalog, ident, replacing = existing.isDefined && original.replace)
    val parser = InlineCatalogFunctions.classic(spark).sessionState.sqlParser
    val paramStruct = original.inputParamText.filter(_.trim.nonEmpty).map(parser.parseRoutineParam)
      .getOrElse(new StructType())
    val params = paramStruct.fields.toSeq.map { f =>
      FunctionParam(f.name.toLowerCase(Locale.ROOT), f.dataType, f.getComment())
    }
    val body = original.exprText.orElse(original.queryText.map(q => s"($q)")).getOrElse(
      throw CatalogFunctions.analysisError(s"CREATE FUNCTION $fullName needs a RETURN clause"))
    val declared = Option(original.returnTypeText).filter(_.trim.nonEmpty).map(parser.parseDataType)
    // Analyse the body once with typed NULL arguments: unknown names, functions and columns fail
    // here, with Spark's own error, instead of at the first query that uses the function.
    val probe = StoredFunction(catalog, ident.namespace().head, ident.name(), params,
      declared.getOrElse(org.apache.spark.sql.types.NullType), body, None, "", deterministic = true, 0L)
    val args = params.map(p => Literal(null, p.dataType))
    val inlined = InlineCatalogFunctions.inline(parser, probe, args).asInstanceOf[Cast].child
    val analyzed = Dataset.ofRows(InlineCatalogFunctions.classic(spark),
      Project(Seq(Alias(inlined, "result")()), OneRowRelation())).queryExecution.analyzed
    val inferred = analyzed.output.head.dataType
    val returnType = declared.getOrElse(inferred)
    if (declared.isDefined && !Cast.canCast(inferred, returnType)) {
      throw CatalogFunctions.analysisError(s"CREATE FUNCTION $fullName: the body returns ${inferred.sql}, which " +
        s"cannot be cast to the declared return type ${returnType.sql}")
    }
    val stored = probe.copy(returnType = returnType, comment = original.comment,
      owner = RowSecurityGovernance.currentPrincipal(spark),
      deterministic = original.isDeterministic.forall(_ == true),
      createdAt = existing.map(_.createdAt).getOrElse(System.currentTimeMillis()))
    if (!functions.create(stored, orReplace = original.replace)) {
      if (original.ignoreIfExists) return Seq.empty
      throw CatalogFunctions.sparkError("ROUTINE_ALREADY_EXISTS", "newRoutineType" -> "routine",
        "routineName" -> FunctionStatements.quoted(fullName), "existingRoutineType" -> "routine")
    }
    Seq.empty
  }
}

case class DropCatalogFunctionCommand(parts: Seq[String], ifExists: Boolean, original: DropFunction)
    extends LeafRunnableCommand {
  override def output: Seq[Attribute] = Seq.empty

  override def run(spark: SparkSession): Seq[Row] = {
    // A one-part name is the current schema's function, as in Unity Catalog; only temporary
    // and built-in functions of that name stay Spark's (whose DROP fails on a lakeloom catalog).
    val target = InlineCatalogFunctions.qualify(spark, parts).filter { case (catalog, ident) =>
      parts.length > 1 || InlineCatalogFunctions.functionsOf(spark, catalog).load(ident).isDefined ||
        !DropCatalogFunctionCommand.sessionFunction(spark, parts.head)
    }
    target match {
      case None => FunctionStatements.runOriginal(spark, original)
      case Some((catalog, ident)) =>
        val functions = InlineCatalogFunctions.functionsOf(spark, catalog)
        val fullName = s"$catalog.${ident.namespace().head}.${ident.name()}"
        if (functions.load(ident).isEmpty) {
          if (ifExists) return Seq.empty
          throw FunctionStatements.notFound(fullName)
        }
        RowSecurityGovernance.checkManageFunction(spark, catalog, ident)
        functions.drop(ident)
        Seq.empty
    }
  }
}

object DropCatalogFunctionCommand {
  private[rowsec] def sessionFunction(spark: SparkSession, name: String): Boolean = {
    val catalog = InlineCatalogFunctions.classic(spark).sessionState.catalog
    val id = FunctionIdentifier(name)
    catalog.isTemporaryFunction(id) || catalog.isBuiltinFunction(name)
  }
}

case class DescribeCatalogFunctionCommand(parts: Seq[String], extended: Boolean, original: DescribeFunction)
    extends LeafRunnableCommand {
  override val output: Seq[Attribute] = Seq(AttributeReference("function_desc", StringType, nullable = false)())

  override def run(spark: SparkSession): Seq[Row] = {
    val found = InlineCatalogFunctions.qualify(spark, parts).flatMap { case (catalog, ident) =>
      InlineCatalogFunctions.functionsOf(spark, catalog).load(ident)
    }
    found match {
      case None if parts.length == 1 => FunctionStatements.runOriginal(spark, original)
      case None => throw FunctionStatements.notFound(parts.mkString("."))
      case Some(f) =>
        val basic = Seq(
          s"Function:    ${f.fullName}",
          "Type:        SCALAR",
          s"Input:       ${if (f.params.isEmpty) "()" else f.params.map(p => s"${p.name} ${p.dataType.sql}").mkString(", ")}",
          s"Returns:     ${f.returnType.sql}")
        val more = if (!extended) Seq.empty else Seq(
          s"Comment:     ${f.comment.getOrElse("")}",
          s"Deterministic: ${f.deterministic}",
          "Data Access: CONTAINS SQL",
          s"Owner:       ${f.owner}",
          s"Create Time: ${new java.util.Date(f.createdAt)}",
          s"Body:        ${f.body}")
        (basic ++ more).map(Row(_))
    }
  }
}

case class ShowCatalogFunctionsCommand(
    inSchema: Option[Seq[String]], user: Boolean, system: Boolean, pattern: Option[String], original: ShowFunctions)
    extends LeafRunnableCommand {
  override val output: Seq[Attribute] = original.output

  override def run(spark: SparkSession): Seq[Row] = {
    val namespace = inSchema match {
      case Some(Seq(cat, s)) if InlineCatalogFunctions.isLakeloomCatalog(spark, cat) => Some((cat, s))
      case Some(Seq(s)) if InlineCatalogFunctions.isLakeloomCatalog(spark, spark.catalog.currentCatalog()) =>
        Some((spark.catalog.currentCatalog(), s))
      case None if InlineCatalogFunctions.isLakeloomCatalog(spark, spark.catalog.currentCatalog()) =>
        Some((spark.catalog.currentCatalog(), spark.catalog.currentDatabase))
      case _ => None
    }
    namespace match {
      case None => FunctionStatements.runOriginal(spark, original)
      case Some((cat, s)) =>
        val catalog = cat.toLowerCase(Locale.ROOT)
        val stored = if (!user) Seq.empty else InlineCatalogFunctions.functionsOf(spark, catalog)
          .list(Array(s.toLowerCase(Locale.ROOT))).map(_.fullName)
        val builtin = if (!system) Seq.empty else
          InlineCatalogFunctions.classic(spark).sessionState.functionRegistry.listFunction().map(_.funcName)
        val names = (stored ++ builtin.sorted).distinct
        // LIKE patterns match the function's own name, as for Spark's qualified names.
        names.filter(n => pattern.forall(p => StringUtils.filterPattern(Seq(n.split('.').last), p).nonEmpty))
          .map(Row(_))
    }
  }
}
