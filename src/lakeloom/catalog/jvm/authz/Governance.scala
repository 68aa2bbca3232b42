// Wires governance into a SparkSession: the check rule, current_user()/is_member() and friends.
// Called from LakeloomSparkExtensions.
package io.lakeloom.catalog.authz

import org.apache.spark.sql.SparkSessionExtensions
import org.apache.spark.sql.catalyst.FunctionIdentifier
import org.apache.spark.sql.catalyst.expressions.{CurrentUser, Expression, ExpressionInfo, Literal}
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.catalyst.rules.Rule
import org.apache.spark.sql.catalyst.trees.TreePattern.CURRENT_LIKE

object Governance {
  def install(extensions: SparkSessionExtensions): Unit = {
    extensions.injectCheckRule(spark => new AuthorizationCheck(spark))
    extensions.injectResolutionRule(_ => CurrentUserRule)
    extensions.injectResolutionRule(_ => org.apache.spark.sql.lakeloom.authz.AuthzInternals.NoteViewBodies)
    Seq("current_user", "session_user", "user").foreach { name =>
      extensions.injectFunction((FunctionIdentifier(name), info(name), (_: Seq[Expression]) =>
        Literal(Identity.currentUser())))
    }
    Seq("is_account_group_member", "is_member").foreach { name =>
      extensions.injectFunction((FunctionIdentifier(name), info(name), (args: Seq[Expression]) =>
        Literal(Identity.isMember(groupArg(name, args)))))
    }
  }

  private def info(name: String) = new ExpressionInfo(classOf[Literal].getName, null, name,
    s"$name(...) - answers for the principal the run executes as (lakeloom governance)", "", "", "", "misc_funcs",
    "", "", "built-in")

  private def groupArg(name: String, args: Seq[Expression]): String = args match {
    case Seq(e) if e.foldable => Option(e.eval()).map(_.toString).getOrElse(
      throw new IllegalArgumentException(s"$name: the group name is NULL"))
    case _ => throw new IllegalArgumentException(s"$name takes one constant group name, e.g. $name('admins')")
  }
}

/** `CURRENT_USER` without parentheses (and any builtin current_user left) answers for the run's principal. */
object CurrentUserRule extends Rule[LogicalPlan] {
  override def apply(plan: LogicalPlan): LogicalPlan =
    if (!plan.containsPattern(CURRENT_LIKE)) plan
    else plan.transformAllExpressionsWithPruning(_.containsPattern(CURRENT_LIKE)) {
      case _: CurrentUser => Literal(Identity.currentUser())
    }
}
