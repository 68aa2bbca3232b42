// Calls of stored SQL functions become their bodies during analysis (Spark does the same for
// its own session-catalog SQL UDFs). Spark's V2 function resolution has already checked the
// name and the arity (SqlUnboundFunction.bind); the body is parsed again here, its parameters
// replaced by the (cast) arguments, and the fixed-point analyzer resolves what is left -- nested
// catalog functions, current_user(), is_account_group_member(...) -- in its next iterations.
//
// A call written in a statement needs EXECUTE on the function (checked here, for whoever runs
// the statement). Functions run with their definer's rights, as Unity Catalog's do: the calls
// inside an inlined body (and the policy functions ApplyRowSecurity inlines) are wrapped in
// DefinerCall and are not checked against the caller.
package org.apache.spark.sql.lakeloom.rowsec

import java.util.Locale

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.analysis.{UnresolvedAttribute, UnresolvedFunction}
import org.apache.spark.sql.catalyst.expressions.{Alias, ApplyFunctionExpression, Cast, Expression, TaggingExpression, UnaryExpression}
import org.apache.spark.sql.catalyst.parser.ParserInterface
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.catalyst.rules.Rule
import org.apache.spark.sql.catalyst.util.toPrettySQL
import org.apache.spark.sql.connector.catalog.Identifier
import org.apache.spark.sql.{classic => c}
import org.apache.spark.sql.lakeloom.authz.{AuthzInternals, ExecutionScope}

object InlineCatalogFunctions {
  /** The body of `f` applied to `args` (one per parameter), cast to the declared return type. */
  def inline(parser: ParserInterface, f: StoredFunction, args: Seq[Expression]): Expression = {
    val byName = f.params.zip(args).map { case (p, a) =>
      p.name.toLowerCase(Locale.ROOT) -> (if (a.resolved && a.dataType == p.dataType) a else Cast(a, p.dataType))
    }.toMap
    val fn = f.name.toLowerCase(Locale.ROOT)
    val body = parser.parseExpression(f.body).transformUp {
      case u: UnresolvedAttribute if u.nameParts.length == 1 && byName.contains(u.nameParts.head.toLowerCase(Locale.ROOT)) =>
        byName(u.nameParts.head.toLowerCase(Locale.ROOT))
      case u: UnresolvedAttribute if u.nameParts.length == 2 && u.nameParts.head.toLowerCase(Locale.ROOT) == fn &&
          byName.contains(u.nameParts(1).toLowerCase(Locale.ROOT)) =>
        byName(u.nameParts(1).toLowerCase(Locale.ROOT))
    }
    Cast(body.transformUp { case u: UnresolvedFunction => DefinerCall(u) }, f.returnType)
  }

  /** The catalog plugin class that marks a lakeloom catalog in spark.sql.catalog.<name>. */
  val CatalogClass = "io.lakeloom.catalog.LakeloomCatalog"

  def isLakeloomCatalog(spark: SparkSession, name: String): Boolean =
    spark.conf.getOption(s"spark.sql.catalog.${name.toLowerCase(Locale.ROOT)}").contains(CatalogClass)

  /** The function store of a lakeloom catalog (its folder is in the catalog's settings). */
  def functionsOf(spark: SparkSession, catalog: String): CatalogFunctions = {
    val name = catalog.toLowerCase(Locale.ROOT)
    new CatalogFunctions(name, spark.conf.get(s"spark.sql.catalog.$name.store"))
  }

  /** `parts` completed to catalog, schema, name, if that lands in a lakeloom catalog. */
  def qualify(spark: SparkSession, parts: Seq[String]): Option[(String, Identifier)] = {
    val current = spark.catalog.currentCatalog()
    val full = parts match {
      case Seq(cat, s, n) => Some((cat, s, n))
      case Seq(s, n) => Some((current, s, n))
      case Seq(n) => Some((current, spark.catalog.currentDatabase, n))
      case _ => None
    }
    full.collect { case (cat, s, n) if isLakeloomCatalog(spark, cat) =>
      (cat.toLowerCase(Locale.ROOT), Identifier.of(Array(s.toLowerCase(Locale.ROOT)), n.toLowerCase(Locale.ROOT)))
    }
  }

  def classic(spark: SparkSession): c.SparkSession = spark.asInstanceOf[c.SparkSession]
}

class InlineCatalogFunctions(spark: SparkSession) extends Rule[LogicalPlan] {
  private def inline(f: SqlBoundFunction, args: Seq[Expression]): Expression =
    InlineCatalogFunctions.inline(InlineCatalogFunctions.classic(spark).sessionState.sqlParser, f.stored, args)

  // Inside a view's body the view's owner is the caller; its calls were checked when it was
  // created. Delta's own re-analysis inside a running statement calls nothing new.
  private def checked(f: SqlBoundFunction): SqlBoundFunction = {
    if (!AuthzInternals.insideViewResolution && !ExecutionScope.internal) RowSecurityGovernance.checkCall(f.stored)
    f
  }

  override def apply(plan: LogicalPlan): LogicalPlan = plan.transformAllExpressions {
    case DefinerCall(ApplyFunctionExpression(f: SqlBoundFunction, args)) => inline(f, args)
    case DefinerCall(call) if call.resolved => call
    // The column Spark named after the V2 call ("applyfunctionexpression(...)") is named after the
    // function, as Databricks does: main.sec.us_only(US).
    case a @ Alias(call @ ApplyFunctionExpression(f: SqlBoundFunction, args), name) if name == toPrettySQL(call) =>
      Alias(inline(checked(f), args), s"${f.stored.fullName}(${args.map(a => toPrettySQL(a)).mkString(", ")})")(
        a.exprId, a.qualifier, a.explicitMetadata, a.nonInheritableMetadataKeys)
    case ApplyFunctionExpression(f: SqlBoundFunction, args) => inline(checked(f), args)
  }
}

/** A function call inside a stored function's body: runs with the definer's rights (no EXECUTE check). */
case class DefinerCall(child: Expression) extends UnaryExpression with TaggingExpression {
  override protected def withNewChildInternal(newChild: Expression): DefinerCall = copy(child = newChild)
}
