// Unity Catalog's row filter and column mask SQL, which Spark 4.2 does not parse:
//   ALTER TABLE t SET ROW FILTER f ON (c, ...)        ALTER TABLE t DROP ROW FILTER
//   ALTER TABLE t ALTER COLUMN c SET MASK f [USING COLUMNS (c, ...)]
//   ALTER TABLE t ALTER COLUMN c DROP MASK
//   CREATE [OR REPLACE] TABLE t (c T MASK f [USING COLUMNS (...)], ...) ... WITH ROW FILTER f ON (...)
// The CREATE TABLE clauses are cut out of the text (quotes, back-ticks and comments respected)
// and Spark parses the rest. Function statements come from Spark's parser and are adapted.
package org.apache.spark.sql.lakeloom.rowsec

import org.apache.spark.sql.SparkSession
import org.apache.spark.sql.catalyst.parser.ParserInterface
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan

object RowSecurityParser {
  private val Ws = """(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"""
  private val Part = """(?:`[^`]+`|[A-Za-z0-9_]+)"""
  private val Name = s"""($Part(?:\\s*\\.\\s*$Part){0,2})"""
  private val Column = s"""($Part)"""
  private val End = """\s*;?\s*$"""
  private val Alter = s"(?is)^${Ws}ALTER\\s+TABLE\\s+$Name\\s+"
  private val SetRowFilter = (Alter + s"SET\\s+ROW\\s+FILTER\\s+$Name\\s+ON\\s*\\((.*)\\)$End").r
  private val DropRowFilter = (Alter + s"DROP\\s+ROW\\s+FILTER$End").r
  private val SetMask = (Alter + s"(?:ALTER|CHANGE)\\s+(?:COLUMN\\s+)?$Column\\s+SET\\s+MASK\\s+$Name" +
    s"(?:\\s+USING\\s+COLUMNS\\s*\\((.*)\\))?$End").r
  private val DropMask = (Alter + s"(?:ALTER|CHANGE)\\s+(?:COLUMN\\s+)?$Column\\s+DROP\\s+MASK$End").r

  private def unquote(part: String): String = part.stripPrefix("`").stripSuffix("`").toLowerCase

  /** Our command for one of the statements above, or None to let Spark parse the text. */
  def parse(sql: String, delegate: ParserInterface, parseRest: String => LogicalPlan): Option[LogicalPlan] = {
    lazy val spark = SparkSession.active
    def name(n: String): Seq[String] = delegate.parseMultipartIdentifier(n)
    sql match {
      case SetRowFilter(table, function, args) =>
        Some(SetRowFilterCommand(name(table), name(function), PolicyArg.parseList(spark, args)))
      case DropRowFilter(table) => Some(DropRowFilterCommand(name(table)))
      case SetMask(table, column, function, using) =>
        Some(SetColumnMaskCommand(name(table), unquote(column), name(function),
          Option(using).map(PolicyArg.parseList(spark, _)).getOrElse(Seq.empty)))
      case DropMask(table, column) => Some(DropColumnMaskCommand(name(table), unquote(column)))
      case _ => CreateTableClauses.extract(sql).map { case (rest, table, filter, masks) =>
        val policy = CreatePolicy(
          filter.map { case (f, args) => (name(f), PolicyArg.parseList(spark, args)) },
          masks.map { case (c, f, using) => (unquote(c), name(f), using.map(PolicyArg.parseList(spark, _)).getOrElse(Seq.empty)) })
        CreateTableWithPolicyCommand(parseRest(rest), name(table), policy)
      }
    }
  }

  /** Spark's plan, with function statements swapped for lakeloom's (see FunctionStatements). */
  def adapt(plan: LogicalPlan): LogicalPlan = FunctionStatements.adapt(plan)
}

/** Finds and cuts the WITH ROW FILTER and MASK clauses out of a CREATE TABLE statement. */
object CreateTableClauses {
  private val Part = """(?:`[^`]+`|[A-Za-z0-9_]+)"""
  private val Name = s"""$Part(?:\\s*\\.\\s*$Part){0,2}"""
  private val Head = (s"(?is)^\\s*(?:CREATE\\s+(?:OR\\s+REPLACE\\s+)?|REPLACE\\s+)TABLE\\s+" +
    s"(?:IF\\s+NOT\\s+EXISTS\\s+)?($Name)\\s*").r
  private val RowFilter = s"(?is)\\bWITH\\s+ROW\\s+FILTER\\s+($Name)\\s+ON\\s*\\(".r
  private val Mask = s"(?is)\\s(MASK)\\s+($Name)(\\s+USING\\s+COLUMNS\\s*\\()?".r

  /** `sql` with quoted text, back-ticked names and comments blanked out; same length and indices. */
  private def code(sql: String): String = {
    val out = sql.toCharArray
    var i = 0
    def blank(from: Int, to: Int, keepEnds: Boolean): Unit =
      (from until to).foreach(j => if (!keepEnds || (j != from && j != to - 1)) out(j) = if (keepEnds) 'x' else ' ')
    while (i < sql.length) {
      sql.charAt(i) match {
        case q @ ('\'' | '"' | '`') =>
          var j = i + 1
          while (j < sql.length && sql.charAt(j) != q) { if (sql.charAt(j) == '\\' && q != '`') j += 1; j += 1 }
          blank(i, math.min(j + 1, sql.length), keepEnds = true)
          i = j + 1
        case '-' if sql.startsWith("--", i) =>
          val j = sql.indexOf('\n', i) match { case -1 => sql.length; case n => n }
          blank(i, j, keepEnds = false); i = j
        case '/' if sql.startsWith("/*", i) =>
          val j = sql.indexOf("*/", i + 2) match { case -1 => sql.length; case n => n + 2 }
          blank(i, j, keepEnds = false); i = j
        case _ => i += 1
      }
    }
    new String(out)
  }

  private def closing(code: String, open: Int): Int = {
    var depth = 0
    var i = open
    while (i < code.length) {
      code.charAt(i) match {
        case '(' => depth += 1
        case ')' => depth -= 1; if (depth == 0) return i
        case _ =>
      }
      i += 1
    }
    throw CatalogFunctions.analysisError("unbalanced parentheses in CREATE TABLE")
  }

  private def depthAt(code: String, index: Int): Int = code.substring(0, index).count(_ == '(') -
    code.substring(0, index).count(_ == ')')

  /** (statement without the clauses, table name, row filter (name, args), masks (column, name, using)). */
  def extract(sql: String): Option[(String, String, Option[(String, String)], Seq[(String, String, Option[String])])] = {
    val c = code(sql)
    val head = Head.findPrefixMatchOf(c).getOrElse(return None)
    val table = sql.substring(head.start(1), head.end(1))
    val cuts = scala.collection.mutable.ArrayBuffer.empty[(Int, Int)]
    val filter = RowFilter.findAllMatchIn(c).find(m => depthAt(c, m.start) == 0).map { m =>
      val close = closing(c, m.end - 1)
      cuts += ((m.start, close + 1))
      (sql.substring(m.start(1), m.end(1)), sql.substring(m.end, close))
    }
    val masks = if (head.end < c.length && c.charAt(head.end) == '(') {
      val listEnd = closing(c, head.end)
      // Column definitions: split the list at its own commas.
      val bounds = (head.end + 1 until listEnd).filter(i => c.charAt(i) == ',' && depthAt(c, i) == 1)
      val segments = ((head.end + 1) +: bounds.map(_ + 1)).zip(bounds :+ listEnd)
      segments.flatMap { case (from, to) =>
        val segment = c.substring(from, to)
        val column = """^\s*((?:`[^`]*`|[A-Za-z0-9_]+))""".r.findFirstMatchIn(segment)
        Mask.findAllMatchIn(segment).find(m => depthAt(c, from + m.start) == 1 && column.exists(_.end <= m.start))
          .map { m =>
            val using = Option(m.group(3)).map { _ =>
              val close = closing(c, from + m.end - 1)
              (sql.substring(from + m.end, close), close + 1)
            }
            cuts += ((from + m.start, using.map(_._2).getOrElse(from + m.end)))
            val col = column.get
            (sql.substring(from + col.start(1), from + col.end(1)), sql.substring(from + m.start(2), from + m.end(2)),
              using.map(_._1))
          }
      }
    } else Seq.empty
    if (filter.isEmpty && masks.isEmpty) return None
    val rest = cuts.sortBy(-_._1).foldLeft(sql) { case (s, (from, to)) => s.substring(0, from) + " " + s.substring(to) }
    Some((rest, table, filter, masks))
  }
}
