// Unity Catalog's grant statements, which Spark does not parse, planned as lakeloom commands:
//   GRANT privilege[, ...] | ALL PRIVILEGES ON [CATALOG|SCHEMA|TABLE|VIEW|VOLUME|FUNCTION|MODEL] name TO principal
//   REVOKE ... ON ... FROM principal
//   SHOW GRANTS [principal] ON [CATALOG|SCHEMA|TABLE|VIEW|VOLUME|FUNCTION|MODEL] name
//   ALTER {CATALOG|SCHEMA|TABLE|VIEW|VOLUME} name [SET] OWNER TO principal
// The statements are matched on the text before Spark's parser sees it, as LakeloomVolumes does;
// what they do is checked and audited like every other decision.
package io.lakeloom.catalog.authz

import org.apache.spark.sql.{Row, SparkSession}
import org.apache.spark.sql.catalyst.expressions.{Attribute, AttributeReference}
import org.apache.spark.sql.catalyst.parser.ParserInterface
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan
import org.apache.spark.sql.execution.command.LeafRunnableCommand
import org.apache.spark.sql.types.StringType

import io.lakeloom.catalog.LakeloomVolumes

object GrantSql {
  private val Ws = """(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"""
  private val Part = """(?:`[^`]+`|[A-Za-z0-9_]+)"""
  private val Name = s"""($Part(?:\\s*\\.\\s*$Part){0,2})"""
  private val Kind = """(?:(CATALOG|SCHEMA|DATABASE|TABLE|VIEW|VOLUME|FUNCTION|MODEL|REGISTERED\s+MODEL)\s+)?"""
  private val Principal = """(`[^`]+`|'[^']+'|"[^"]+"|[A-Za-z0-9_.@+-]+)"""
  private val End = """\s*;?\s*$"""
  private val Grant = s"(?is)^${Ws}GRANT\\s+(.+?)\\s+ON\\s+$Kind$Name\\s+TO\\s+$Principal$End".r
  private val Revoke = s"(?is)^${Ws}REVOKE\\s+(.+?)\\s+ON\\s+$Kind$Name\\s+FROM\\s+$Principal$End".r
  private val ShowGrants = s"(?is)^${Ws}SHOW\\s+GRANTS?(?:\\s+(?!ON\\b)$Principal)?\\s+ON\\s+$Kind$Name$End".r
  private val AlterOwner = (s"(?is)^${Ws}ALTER\\s+(CATALOG|SCHEMA|DATABASE|TABLE|VIEW|VOLUME)\\s+$Name" +
    s"\\s+(?:SET\\s+)?OWNER\\s+TO\\s+$Principal$End").r

  def unquote(p: String): String =
    if (p.length >= 2 && "`'\"".contains(p.head) && p.last == p.head) p.substring(1, p.length - 1) else p

  private def privileges(text: String): Seq[String] =
    text.split(",").map(_.trim).filter(_.nonEmpty).map(Privileges.normalize).toSeq

  private def kind(k: String): String = Securable.normalizeKind(Option(k).getOrElse("TABLE"))

  /** The command for one of the statements above, or None to let Spark parse the text. */
  def parse(sql: String, parser: ParserInterface): Option[LogicalPlan] = sql match {
    case Grant(privs, k, name, who) =>
      Some(GrantCommand(privileges(privs), kind(k), parser.parseMultipartIdentifier(name), unquote(who), revoke = false))
    case Revoke(privs, k, name, who) =>
      Some(GrantCommand(privileges(privs), kind(k), parser.parseMultipartIdentifier(name), unquote(who), revoke = true))
    case ShowGrants(who, k, name) =>
      Some(ShowGrantsCommand(Option(who).map(unquote), kind(k), parser.parseMultipartIdentifier(name)))
    case AlterOwner(k, name, who) => Some(AlterOwnerCommand(kind(k), parser.parseMultipartIdentifier(name), unquote(who)))
    case _ => None
  }

  private val Depth = Map("CATALOG" -> 1, "SCHEMA" -> 2)

  /** The securable a statement names, completed from the current catalog and schema. */
  def securable(spark: SparkSession, kind: String, name: Seq[String]): Securable = {
    val parts = LakeloomVolumes.qualify(spark, name, Depth.getOrElse(kind, 3))
    io.lakeloom.samples.SamplesCatalog.refuseGrants(parts)
    val system = SystemSecurables.isSystemCatalog(parts.head)
    if (!system && !PlanRequests.governed(parts.head)) {
      throw new IllegalArgumentException(s"catalog '${parts.head}' is not a lakeloom catalog: grants apply to the " +
        "catalogs listed under catalog.catalogs in conf/lakeloom.yml")
    }
    val s = Securable.of(kind, parts)
    val exists = if (system) SystemSecurables.exists(s) else Owners.exists(workspaceAccess.dir, s)
    if (kind == "FUNCTION" && !exists) {
      throw org.apache.spark.sql.lakeloom.rowsec.FunctionStatements.notFound(parts.mkString("."))
    }
    if (Set("CATALOG", "SCHEMA", "TABLE", "VOLUME")(kind) && !exists) {
      val cls = kind match {
        case "TABLE" => "TABLE_OR_VIEW_NOT_FOUND"
        case "VOLUME" => "UC_VOLUME_NOT_FOUND"
        case k => s"${k}_NOT_FOUND"
      }
      throw new AccessDeniedException(s"[$cls] The ${s.label.toLowerCase} `${parts.mkString("`.`")}` cannot be found.",
        cls, "42P01")
    }
    s
  }

  /** The workspace's grant store (also when enforcement is switched off). */
  def workspaceAccess: Access = Identity.governanceDir.map(Access(_)).getOrElse(
    throw new IllegalStateException("grants need lakeloom's catalog (spark.lakeloom.governance.dir is not set)"))

  def requireManage(access: Access, user: String, s: Securable): Unit =
    if (Identity.enabled && !access.holds(user, Privileges.Manage, s)) {
      throw AccessDeniedException.insufficient(user, Privileges.Manage, s)
    }
}

case class GrantCommand(privileges: Seq[String], kind: String, name: Seq[String], principal: String, revoke: Boolean)
    extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val s = GrantSql.securable(spark, kind, name)
    val access = GrantSql.workspaceAccess
    val user = Identity.currentUser()
    val applicable = SystemSecurables.applicable(s)
    val bad = privileges.filterNot(applicable)
    if (bad.nonEmpty) {
      throw new IllegalArgumentException(s"[INVALID_PARAMETER_VALUE] Privilege ${bad.map(Privileges.display).mkString(", ")} " +
        s"is not applicable to ${s.describe} (applicable: ${applicable.toSeq.sorted.map(Privileges.display).mkString(", ")})")
    }
    val change = if (revoke) "remove" else "add"
    val params = Map("securable_type" -> s.kind.toLowerCase, "securable_full_name" -> s.fullName,
      "changes" -> s"""[{"principal":"$principal","$change":["${privileges.mkString("\",\"")}"]}]""")
    try GrantSql.requireManage(access, user, s)
    catch {
      case e: AccessDeniedException =>
        Audit.log(access.dir, "updatePermissions", user, params, 403, Some(e.getMessage), immediate = true)
        throw e
    }
    if (revoke) access.grants.revoke(s, principal, privileges) else access.grants.grant(s, principal, privileges)
    Audit.log(access.dir, "updatePermissions", user, params, 200, immediate = true)
    Seq.empty
  }
}

case class ShowGrantsCommand(principal: Option[String], kind: String, name: Seq[String]) extends LeafRunnableCommand {
  override val output: Seq[Attribute] = Seq("principal", "action_type", "object_type", "object_key")
    .map(n => AttributeReference(n, StringType, nullable = false)())

  override def run(spark: SparkSession): Seq[Row] = {
    val s = GrantSql.securable(spark, kind, name)
    val access = GrantSql.workspaceAccess
    val user = Identity.currentUser()
    // Without MANAGE a principal sees only what is granted to it and its groups, as in Unity Catalog.
    val visible: String => Boolean =
      if (!Identity.enabled || access.holds(user, Privileges.Manage, s)) _ => true else Identity.principalsOf(user)
    val snap = access.grants.snapshot
    val owner = access.ownerOf(s).map(o => Row(o, "OWN", s.kind, s.fullName)).toSeq
    val granted = (s +: s.ancestors.reverse).flatMap { on =>
      snap.on(on).toSeq.sortBy(_._1).flatMap { case (p, privs) =>
        privs.toSeq.sorted.map(priv => Row(p, Privileges.display(priv), on.kind, on.fullName))
      }
    }
    Audit.log(access.dir, "getPermissions", user, Map("securable_type" -> s.kind.toLowerCase,
      "securable_full_name" -> s.fullName), 200)
    (owner ++ granted).filter(r => visible(r.getString(0)) && principal.forall(_ == r.getString(0)))
  }
}

case class AlterOwnerCommand(kind: String, name: Seq[String], owner: String) extends LeafRunnableCommand {
  override def run(spark: SparkSession): Seq[Row] = {
    val s = GrantSql.securable(spark, kind, name)
    val access = GrantSql.workspaceAccess
    val user = Identity.currentUser()
    val action = s.kind match {
      case "CATALOG" => "updateCatalog"
      case "SCHEMA" => "updateSchema"
      case "VOLUME" => "updateVolume"
      case _ => "updateTables"
    }
    val params = Map("full_name_arg" -> s.fullName, "owner" -> owner)
    if (SystemSecurables.isSystem(s)) {
      throw new IllegalArgumentException(s"[INVALID_PARAMETER_VALUE] ${s.describe} belongs to the system: its owner cannot be changed")
    }
    try GrantSql.requireManage(access, user, s)
    catch {
      case e: AccessDeniedException =>
        Audit.log(access.dir, action, user, params, 403, Some(e.getMessage), immediate = true)
        throw e
    }
    if (!Owners.setInMetadata(access.dir, s, owner)) access.grants.setOwner(s, owner)
    Audit.log(access.dir, action, user, params, 200, immediate = true)
    Seq.empty
  }
}
