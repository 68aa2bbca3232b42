// SQL UDFs stored in a lakeloom catalog: <store>/<catalog>/<schema>/functions/<name>.json, in the
// shape of Unity Catalog's FunctionInfo (input_params, data_type, routine_definition, ...), so
// every process sharing the workspace sees the same functions.
//
// Spark 4.2 keeps SQL UDFs (CREATE FUNCTION ... RETURN) in the session catalog only; a V2
// FunctionCatalog can only hand out JVM functions. So a stored function is served to Spark as a
// V2 function whose bound form is never evaluated: InlineCatalogFunctions replaces each call by
// the function's body, with the arguments in place of the parameters, during analysis.
package org.apache.spark.sql.lakeloom.rowsec

import java.nio.file.{FileAlreadyExistsException, Files, NoSuchFileException, Path, Paths, StandardCopyOption}
import java.util.{Locale, UUID}

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper, SerializationFeature}
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.sql.AnalysisException
import org.apache.spark.sql.catalyst.InternalRow
import org.apache.spark.sql.catalyst.analysis.{NoSuchFunctionException, NoSuchNamespaceException}
import org.apache.spark.sql.connector.catalog.Identifier
import org.apache.spark.sql.connector.catalog.functions.{BoundFunction, ScalarFunction, UnboundFunction}
import org.apache.spark.sql.types.{DataType, StructType}
import org.apache.spark.sql.util.CaseInsensitiveStringMap

/** One parameter of a stored SQL function. */
case class FunctionParam(name: String, dataType: DataType, comment: Option[String])

/** A stored SQL function: `catalog.schema.name(params) RETURNS returnType RETURN body`. */
case class StoredFunction(
    catalog: String, schema: String, name: String, params: Seq[FunctionParam], returnType: DataType,
    body: String, comment: Option[String], owner: String, deterministic: Boolean, createdAt: Long) {
  def fullName: String = s"$catalog.$schema.$name"
  def nameParts: Seq[String] = Seq(catalog, schema, name)
  def signature: String = params.map(p => s"${p.name} ${p.dataType.sql}").mkString(", ")
}

object CatalogFunctions {
  private val Mapper: ObjectMapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)

  def normalize(part: String): String = {
    val p = part.toLowerCase(Locale.ROOT)
    if (p.isEmpty || p.contains("/") || p.contains("\\") || p.startsWith(".") || p.contains("\u0000")) {
      throw new IllegalArgumentException(s"invalid name part '$part' for the lakeloom catalog")
    }
    p
  }

  /** An AnalysisException whose message is exactly `message` (Spark's free-text legacy error class). */
  def analysisError(message: String): AnalysisException =
    new AnalysisException(errorClass = "_LEGACY_ERROR_TEMP_3071", messageParameters = Map("msg" -> message))

  /** An AnalysisException of one of Spark's own error classes. */
  def sparkError(errorClass: String, params: (String, String)*): AnalysisException =
    new AnalysisException(errorClass = errorClass, messageParameters = params.toMap)

  def toJson(f: StoredFunction): ObjectNode = {
    val node = Mapper.createObjectNode()
    node.put("name", f.name).put("catalog_name", f.catalog).put("schema_name", f.schema)
      .put("full_name", f.fullName).put("specific_name", f.name)
    val params = node.putObject("input_params").putArray("parameters")
    f.params.zipWithIndex.foreach { case (p, i) =>
      val pn = params.addObject().put("name", p.name).put("type_text", p.dataType.sql)
        .put("type_name", p.dataType.typeName.toUpperCase(Locale.ROOT)).put("position", i)
        .put("parameter_mode", "IN").put("parameter_type", "PARAM")
      pn.set[JsonNode]("type_json", Mapper.readTree(p.dataType.json))
      p.comment.foreach(pn.put("comment", _))
    }
    node.put("data_type", f.returnType.typeName.toUpperCase(Locale.ROOT)).put("full_data_type", f.returnType.sql)
    node.set[JsonNode]("return_type_json", Mapper.readTree(f.returnType.json))
    node.put("routine_body", "SQL").put("routine_definition", f.body).put("parameter_style", "S")
      .put("is_deterministic", f.deterministic).put("sql_data_access", "CONTAINS_SQL")
      .put("is_null_call", false).put("security_type", "DEFINER").put("owner", f.owner)
      .put("created_at", f.createdAt).put("updated_at", System.currentTimeMillis())
      .put("function_id", UUID.randomUUID().toString).put("format_version", 1)
    f.comment.foreach(node.put("comment", _))
    node
  }

  def fromJson(node: JsonNode): StoredFunction = {
    def text(n: JsonNode, field: String): Option[String] = Option(n.get(field)).filterNot(_.isNull).map(_.asText())
    val params = Option(node.path("input_params").get("parameters")).toSeq.flatMap(_.elements().asScala).map { p =>
      FunctionParam(p.get("name").asText(), DataType.fromJson(p.get("type_json").toString), text(p, "comment"))
    }
    StoredFunction(
      node.get("catalog_name").asText(), node.get("schema_name").asText(), node.get("name").asText(), params,
      DataType.fromJson(node.get("return_type_json").toString), node.get("routine_definition").asText(),
      text(node, "comment"), text(node, "owner").getOrElse(""),
      Option(node.get("is_deterministic")).forall(_.asBoolean(true)),
      Option(node.get("created_at")).map(_.asLong()).getOrElse(0L))
  }
}

/** The function half of a lakeloom catalog (`catalog` is its name, `storeDir` the store folder). */
class CatalogFunctions(catalog: String, storeDir: String) {
  import CatalogFunctions._

  private val root: Path = Paths.get(storeDir).toAbsolutePath.resolve(normalize(catalog))

  def this(catalog: String, options: CaseInsensitiveStringMap) = this(catalog, Option(options.get("store"))
    .getOrElse(throw new IllegalArgumentException(s"spark.sql.catalog.$catalog.store is not set")))

  private def schemaDir(namespace: Array[String]): Path = namespace match {
    case Array(s) => root.resolve(normalize(s))
    case _ => throw new NoSuchNamespaceException((catalog +: namespace.toSeq).toSeq)
  }
  private def dir(namespace: Array[String]): Path = schemaDir(namespace).resolve("functions")
  private def file(ident: Identifier): Path = dir(ident.namespace()).resolve(normalize(ident.name()) + ".json")

  private def requireSchema(namespace: Array[String]): Unit =
    if (!Files.exists(schemaDir(namespace).resolve("schema.json"))) {
      throw new NoSuchNamespaceException((catalog +: namespace.toSeq).toSeq)
    }

  def load(ident: Identifier): Option[StoredFunction] =
    if (ident.namespace().length != 1) None else try {
      Some(fromJson(Mapper.readTree(Files.readAllBytes(file(ident)))))
    } catch {
      case _: NoSuchFileException | _: IllegalArgumentException => None
    }

  def list(namespace: Array[String]): Seq[StoredFunction] = {
    requireSchema(namespace)
    val d = dir(namespace)
    if (!Files.isDirectory(d)) return Seq.empty
    val files = Files.list(d)
    try files.iterator().asScala.filter(p => p.toString.endsWith(".json") && !p.getFileName.toString.startsWith("."))
      .toSeq.sortBy(_.getFileName.toString).flatMap { p =>
        try Some(fromJson(Mapper.readTree(Files.readAllBytes(p)))) catch { case _: NoSuchFileException => None }
      }
    finally files.close()
  }

  /** Publishes `f`; false when it exists and `orReplace` is off. Atomic across processes. */
  def create(f: StoredFunction, orReplace: Boolean): Boolean = {
    val ident = Identifier.of(Array(f.schema), f.name)
    requireSchema(ident.namespace())
    val target = file(ident)
    Files.createDirectories(target.getParent)
    val tmp = target.resolveSibling(s".${target.getFileName}.${UUID.randomUUID()}.tmp")
    Files.write(tmp, Mapper.writeValueAsBytes(toJson(f)))
    try {
      if (orReplace) {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        true
      } else {
        try { Files.createLink(target, tmp); true }
        catch { case _: FileAlreadyExistsException => false }
      }
    } finally Files.deleteIfExists(tmp)
  }

  def drop(ident: Identifier): Boolean = ident.namespace().length == 1 && Files.deleteIfExists(file(ident))

  /** For DROP SCHEMA: true if the schema holds functions; with `cascade` they are dropped. */
  def dropAll(namespace: Array[String], cascade: Boolean): Boolean = {
    val d = try dir(namespace) catch { case _: IllegalArgumentException | _: NoSuchNamespaceException => return false }
    if (!Files.isDirectory(d)) return false
    val files = Files.list(d)
    val entries = try files.iterator().asScala.toList finally files.close()
    if (entries.exists(_.toString.endsWith(".json")) && !cascade) return true
    entries.foreach(Files.deleteIfExists)
    Files.deleteIfExists(d)
    false
  }

  def listIdentifiers(namespace: Array[String]): Array[Identifier] =
    list(namespace).map(f => Identifier.of(Array(f.schema), f.name)).toArray

  def loadFunction(ident: Identifier): UnboundFunction =
    load(ident).map(new SqlUnboundFunction(_)).getOrElse(throw new NoSuchFunctionException(ident))
}

/** What Spark's V2 function resolution gets for a stored SQL function. */
class SqlUnboundFunction(val stored: StoredFunction) extends UnboundFunction {
  override def name(): String = stored.fullName
  override def description(): String =
    s"${stored.fullName}(${stored.signature}) RETURNS ${stored.returnType.sql} RETURN ${stored.body}"

  override def bind(inputType: StructType): BoundFunction = {
    if (inputType.length != stored.params.length) {
      throw CatalogFunctions.sparkError("WRONG_NUM_ARGS.WITHOUT_SUGGESTION",
        "functionName" -> stored.nameParts.map(p => s"`$p`").mkString("."),
        "expectedNum" -> stored.params.length.toString, "actualNum" -> inputType.length.toString,
        "docroot" -> org.apache.spark.SPARK_DOC_ROOT)
    }
    new SqlBoundFunction(stored)
  }
}

/** Placeholder in a plan until InlineCatalogFunctions puts the body in its place. */
class SqlBoundFunction(val stored: StoredFunction) extends ScalarFunction[AnyRef] {
  override def name(): String = stored.fullName
  override def canonicalName(): String = s"lakeloom.sql.${stored.fullName}"
  override def inputTypes(): Array[DataType] = stored.params.map(_.dataType).toArray
  override def resultType(): DataType = stored.returnType
  override def isDeterministic: Boolean = stored.deterministic
  override def produceResult(input: InternalRow): AnyRef = throw new IllegalStateException(
    s"SQL function ${stored.fullName} was not inlined (lakeloom's session extension is not installed)")
}
