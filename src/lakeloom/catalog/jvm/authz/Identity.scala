// Who runs the current statement, and what groups that principal is in.
//
// The engine binds every task thread to the run's principal with the SparkContext local
// property `lakeloom.principal` (pyspark pins each Python thread to its own JVM thread, and JVM
// threads a task thread starts inherit local properties). Without one: the Spark setting
// `spark.lakeloom.principal`, then the JVM's `user.name`.
//
// Groups and admins mirror `governance.groups` / `governance.admins` of conf/lakeloom.yml: the
// Python side publishes them to <store>/.governance/identity.json, re-read when it changes.
package io.lakeloom.catalog.authz

import java.nio.file.{Path, Paths}

import scala.jdk.CollectionConverters._

import org.apache.spark.TaskContext
import org.apache.spark.sql.lakeloom.authz.AuthzInternals

object Identity {
  val PrincipalProperty = "lakeloom.principal"
  val PrincipalConf = "spark.lakeloom.principal"
  val GovernanceDirConf = "spark.lakeloom.governance.dir"
  val EnabledConf = "spark.lakeloom.governance.enabled"
  /** Stands for "the metastore admins" where an object has no recorded owner (e.g. a view's). */
  val Admins = "<admins>"
  val EveryoneGroups: Set[String] = Set("users", "account users")
  val AdminsGroup = "admins"

  /** The principal the calling thread runs as. */
  def currentUser(): String = {
    val sc = AuthzInternals.activeContext
    sc.flatMap(c => Option(c.getLocalProperty(PrincipalProperty)))
      .orElse(Option(TaskContext.get()).flatMap(t => Option(t.getLocalProperty(PrincipalProperty))))
      .filter(_.nonEmpty)
      .orElse(AuthzInternals.staticConf.flatMap(_.getOption(PrincipalConf)).filter(_.nonEmpty))
      .getOrElse(System.getProperty("user.name"))
  }

  private val systemObjects = new ThreadLocal[Boolean] { override def initialValue(): Boolean = false }

  /** Run `body` creating objects that get no recorded owner (the admins own them): a catalog's own
   *  catalog.json and default schemas, made whenever a process first opens the catalog. */
  def creatingSystemObjects[T](body: => T): T = {
    systemObjects.set(true)
    try body finally systemObjects.set(false)
  }

  /** Who owns what the calling thread creates (null: nobody recorded, so the admins). */
  def ownerForNewObjects: String = if (systemObjects.get()) null else currentUser()

  /** The store folder (workspace.catalog_dir) whose .governance files apply, if any. */
  def governanceDir: Option[Path] = AuthzInternals.staticConf.flatMap { conf =>
    conf.getOption(GovernanceDirConf).orElse(
      conf.getAll.collectFirst { case (k, v) if k.startsWith("spark.sql.catalog.") && k.endsWith(".store") => v })
  }.map(dirOf)

  private val dirs = new java.util.concurrent.ConcurrentHashMap[String, Path]()
  private def dirOf(s: String): Path = dirs.computeIfAbsent(s, k => Paths.get(k).toAbsolutePath.normalize())

  /** Governance is on unless `spark.lakeloom.governance.enabled=false` (a static setting) or switched off here. */
  @volatile var switchedOn: Boolean = true
  def enabled: Boolean = switchedOn && AuthzInternals.staticConf.forall(
    !_.getOption(EnabledConf).exists(_.equalsIgnoreCase("false")))

  /** Turn enforcement off or on in this JVM (benchmarks compare both in one run). */
  def setEnabled(on: Boolean): Unit = switchedOn = on

  private[authz] def settings: IdentitySettings =
    governanceDir.map(IdentitySettings.load).getOrElse(IdentitySettings.Empty)

  /** Groups `user` belongs to: every configured group listing it, plus `users` and `account users`. */
  def groupsOf(user: String): Set[String] = groupsOf(user, settings)
  private[authz] def groupsOf(user: String, s: IdentitySettings): Set[String] = EveryoneGroups ++ s.groupsOf(user)

  def isMember(group: String): Boolean = isMember(currentUser(), group)
  def isMember(user: String, group: String): Boolean = groupsOf(user).contains(group) || group == user

  def isAdmin: Boolean = isAdmin(currentUser())
  def isAdmin(user: String): Boolean = isAdmin(user, settings)
  private[authz] def isAdmin(user: String, s: IdentitySettings): Boolean =
    user == Admins || s.admins.contains(user) || s.groupsOf(user).contains(AdminsGroup)

  /** The user and every group it is in: the principals whose grants it holds. */
  def principalsOf(user: String): Set[String] = groupsOf(user) + user
  private[authz] def principalsOf(user: String, s: IdentitySettings): Set[String] = groupsOf(user, s) + user

  def javaGroupsOf(user: String): java.util.List[String] = groupsOf(user).toSeq.sorted.asJava
}

private[authz] case class IdentitySettings(groups: Map[String, Set[String]], admins: Set[String]) {
  def groupsOf(user: String): Set[String] = groups.collect { case (g, members) if members(user) => g }.toSet
}

private[authz] object IdentitySettings {
  val Empty: IdentitySettings = IdentitySettings(Map.empty, Set.empty)

  def load(dir: Path): IdentitySettings =
    JsonFiles.cached(dir.resolve(".governance").resolve("identity.json")) { node =>
      val groups = Option(node.get("groups")).filter(_.isObject).map(_.properties().asScala.map { e =>
        e.getKey -> e.getValue.elements().asScala.map(_.asText()).toSet
      }.toMap).getOrElse(Map.empty)
      val admins = Option(node.get("admins")).filter(_.isArray).map(_.elements().asScala.map(_.asText()).toSet)
        .getOrElse(Set.empty)
      IdentitySettings(groups, admins)
    }.getOrElse(Empty)
}
