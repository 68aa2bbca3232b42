// samples.tpch: the eight TPC-H tables at scale factor 0.01 (Databricks' copy is far larger),
// with TPC-H's column names, Databricks' types (keys BIGINT, money DECIMAL(18,2), dates DATE) and
// dbgen's rules where they matter to queries: dense part/supplier/customer keys, sparse order
// keys, 1-7 line items an order, four suppliers a part, a third of the customers without
// orders, ship/commit/receipt dates after the order date, return flag and line status from the
// 1995-06-17 "current date", order status and total price computed from the order's own lines.
// Text columns are words picked by hash, not dbgen's grammar. Every foreign key joins.
package io.lakeloom.samples

import org.apache.spark.sql.types._

object TpchTables {
  private val Parts = 2000L
  private val Suppliers = 100L
  private val Customers = 1500L
  private val Orders = 15000L

  /** A uniform double in [0, 1) from hashed expressions and a salt. */
  private def h(salt: Int, exprs: String*): String =
    s"((xxhash64(${exprs.mkString(", ")}, $salt) & 9007199254740991) / 9007199254740992D)"

  private def between(lo: Long, hi: Long, draw: String): String = s"($lo + CAST(floor($draw * ${hi - lo + 1}) AS BIGINT))"

  private def pick(values: Seq[String], draw: String): String =
    s"element_at(array(${values.map(v => s"'$v'").mkString(", ")}), CAST(floor($draw * ${values.size}) AS INT) + 1)"

  private def money(expr: String): String = s"CAST(round($expr, 2) AS DECIMAL(18,2))"

  private val Words = Seq("furiously", "quickly", "carefully", "blithely", "slyly", "regular", "final", "special",
    "pending", "express", "ironic", "even", "bold", "silent", "unusual", "packages", "deposits", "requests",
    "accounts", "instructions", "theodolites", "foxes", "pinto", "beans", "ideas", "dependencies", "platelets",
    "asymptotes", "courts", "dolphins", "sleep", "wake", "haggle", "nag", "cajole", "boost", "detect", "among",
    "above", "across")

  /** Three to eight words picked by hash: TPC-H's comment columns. */
  private def comment(key: String, salt: Int): String = {
    val words = (1 to 8).map(i => pick(Words, h(salt * 10 + i, key)))
    s"concat_ws(' ', slice(array(${words.mkString(", ")}), 1, CAST(${between(3, 8, h(salt * 10, key))} AS INT)))"
  }

  private def address(key: String, salt: Int): String =
    s"substr(base64(unhex(sha2(concat(CAST($key AS STRING), '$salt'), 256))), 1, CAST(${between(10, 40, h(salt, key))} AS INT))"

  private def phone(nation: String, key: String, salt: Int): String =
    s"concat(CAST($nation + 10 AS STRING), '-', CAST(${between(100, 999, h(salt, key))} AS STRING), '-', " +
      s"CAST(${between(100, 999, h(salt + 1, key))} AS STRING), '-', CAST(${between(1000, 9999, h(salt + 2, key))} AS STRING))"

  private def retailPrice(partkey: String): String = s"((90000 + (($partkey div 10) % 20001) + 100 * ($partkey % 1000)) / 100D)"

  // ---- line items, as functions of (order key, line number), so orders can total their own lines --

  private val CurrentDate = "DATE'1995-06-17'"
  private def orderDate(ok: String): String = s"date_add(DATE'1992-01-01', CAST(floor(${h(90, ok)} * 2406) AS INT))"
  private def lineCount(ok: String): String = between(1, 7, h(91, ok))
  private def linePart(ok: String, ln: String): String = between(1, Parts, h(92, ok, ln))
  private def lineQuantity(ok: String, ln: String): String = between(1, 50, h(93, ok, ln))
  private def lineDiscount(ok: String, ln: String): String = s"(floor(${h(94, ok, ln)} * 11) / 100D)"
  private def lineTax(ok: String, ln: String): String = s"(floor(${h(95, ok, ln)} * 9) / 100D)"
  private def linePrice(ok: String, ln: String): String = s"(${lineQuantity(ok, ln)} * ${retailPrice(linePart(ok, ln))})"
  private def shipDate(ok: String, ln: String): String = s"date_add(${orderDate(ok)}, CAST(${between(1, 121, h(96, ok, ln))} AS INT))"

  private def lines(ok: String, zero: String, body: String): String =
    s"aggregate(sequence(1, CAST(${lineCount(ok)} AS INT)), $zero, (acc, ln) -> $body)"

  private def orderKey(index: String): String = s"(($index div 8) * 32 + ($index % 8) + 1)"

  private val Nations = Seq(("ALGERIA", 0), ("ARGENTINA", 1), ("BRAZIL", 1), ("CANADA", 1), ("EGYPT", 4),
    ("ETHIOPIA", 0), ("FRANCE", 3), ("GERMANY", 3), ("INDIA", 2), ("INDONESIA", 2), ("IRAN", 4), ("IRAQ", 4),
    ("JAPAN", 2), ("JORDAN", 4), ("KENYA", 0), ("MOROCCO", 0), ("MOZAMBIQUE", 0), ("PERU", 1), ("CHINA", 2),
    ("ROMANIA", 3), ("SAUDI ARABIA", 4), ("VIETNAM", 2), ("RUSSIA", 3), ("UNITED KINGDOM", 3), ("UNITED STATES", 1))
  private val Regions = Seq("AFRICA", "AMERICA", "ASIA", "EUROPE", "MIDDLE EAST")
  private val Colors = Seq("almond", "antique", "aquamarine", "azure", "beige", "bisque", "black", "blanched",
    "blue", "blush", "brown", "burlywood", "chartreuse", "chocolate", "coral", "cornflower", "cream", "cyan",
    "dark", "deep", "dim", "dodger", "firebrick", "forest", "frosted", "gainsboro", "ghost", "goldenrod", "green",
    "grey", "honeydew", "hot", "indian", "ivory", "khaki", "lace", "lavender", "lawn", "lemon", "light", "lime")
  private val TypeSyllables = (Seq("STANDARD", "SMALL", "MEDIUM", "LARGE", "ECONOMY", "PROMO"),
    Seq("ANODIZED", "BURNISHED", "PLATED", "POLISHED", "BRUSHED"), Seq("TIN", "NICKEL", "BRASS", "STEEL", "COPPER"))
  private val Containers = (Seq("SM", "LG", "MED", "JUMBO", "WRAP"),
    Seq("CASE", "BOX", "BAG", "JAR", "PKG", "PACK", "CAN", "DRUM"))
  private val Segments = Seq("AUTOMOBILE", "BUILDING", "FURNITURE", "MACHINERY", "HOUSEHOLD")
  private val Priorities = Seq("1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW")

  private def schema(fields: (String, DataType)*): StructType = StructType(fields.map { case (n, t) => StructField(n, t) })
  private val Money = DecimalType(18, 2)

  val Region: SampleTable = SampleTable("tpch", "region",
    schema("r_regionkey" -> LongType, "r_name" -> StringType, "r_comment" -> StringType), Regions.size,
    Seq(Seq("id AS r_regionkey", s"element_at(array(${Regions.map(r => s"'$r'").mkString(", ")}), CAST(id AS INT) + 1) AS r_name",
      s"${comment("id", 1)} AS r_comment")),
    "TPC-H region (generated, scale factor 0.01)")

  val Nation: SampleTable = SampleTable("tpch", "nation",
    schema("n_nationkey" -> LongType, "n_name" -> StringType, "n_regionkey" -> LongType, "n_comment" -> StringType),
    Nations.size,
    Seq(Seq("id AS n_nationkey",
      s"element_at(array(${Nations.map(n => s"'${n._1}'").mkString(", ")}), CAST(id AS INT) + 1) AS n_name",
      s"CAST(element_at(array(${Nations.map(_._2).mkString(", ")}), CAST(id AS INT) + 1) AS BIGINT) AS n_regionkey",
      s"${comment("id", 2)} AS n_comment")),
    "TPC-H nation (generated, scale factor 0.01)")

  val Supplier: SampleTable = SampleTable("tpch", "supplier",
    schema("s_suppkey" -> LongType, "s_name" -> StringType, "s_address" -> StringType, "s_nationkey" -> LongType,
      "s_phone" -> StringType, "s_acctbal" -> Money, "s_comment" -> StringType), Suppliers,
    Seq(Seq("id + 1 AS s_suppkey", s"${between(0, 24, h(3, "id"))} AS s_nationkey"),
      Seq("s_suppkey", "concat('Supplier#', lpad(CAST(s_suppkey AS STRING), 9, '0')) AS s_name",
        s"${address("s_suppkey", 4)} AS s_address", "s_nationkey", s"${phone("s_nationkey", "s_suppkey", 5)} AS s_phone",
        s"${money(s"-999.99D + ${h(8, "s_suppkey")} * 10999.98D")} AS s_acctbal", s"${comment("s_suppkey", 9)} AS s_comment")),
    "TPC-H supplier (generated, scale factor 0.01)")

  val Part: SampleTable = SampleTable("tpch", "part",
    schema("p_partkey" -> LongType, "p_name" -> StringType, "p_mfgr" -> StringType, "p_brand" -> StringType,
      "p_type" -> StringType, "p_size" -> IntegerType, "p_container" -> StringType, "p_retailprice" -> Money,
      "p_comment" -> StringType), Parts,
    Seq(Seq("id + 1 AS p_partkey", s"${between(1, 5, h(10, "id"))} AS m"),
      Seq("p_partkey", s"concat_ws(' ', ${(1 to 5).map(i => pick(Colors, h(10 + i, "p_partkey"))).mkString(", ")}) AS p_name",
        "concat('Manufacturer#', CAST(m AS STRING)) AS p_mfgr",
        s"concat('Brand#', CAST(m AS STRING), CAST(${between(1, 5, h(16, "p_partkey"))} AS STRING)) AS p_brand",
        s"concat_ws(' ', ${pick(TypeSyllables._1, h(17, "p_partkey"))}, ${pick(TypeSyllables._2, h(18, "p_partkey"))}, " +
          s"${pick(TypeSyllables._3, h(19, "p_partkey"))}) AS p_type",
        s"CAST(${between(1, 50, h(20, "p_partkey"))} AS INT) AS p_size",
        s"concat_ws(' ', ${pick(Containers._1, h(21, "p_partkey"))}, ${pick(Containers._2, h(22, "p_partkey"))}) AS p_container",
        s"${money(retailPrice("p_partkey"))} AS p_retailprice", s"${comment("p_partkey", 23)} AS p_comment")),
    "TPC-H part (generated, scale factor 0.01)")

  /** dbgen's supplier of a part's i-th (0-3) supply row: four distinct suppliers a part. */
  private def partSupplier(partkey: String, i: String): String =
    s"(($partkey + ($i * (${Suppliers / 4} + ($partkey - 1) div $Suppliers))) % $Suppliers + 1)"

  val PartSupp: SampleTable = SampleTable("tpch", "partsupp",
    schema("ps_partkey" -> LongType, "ps_suppkey" -> LongType, "ps_availqty" -> IntegerType, "ps_supplycost" -> Money,
      "ps_comment" -> StringType), Parts * 4,
    Seq(Seq("id div 4 + 1 AS ps_partkey", "id % 4 AS i"),
      Seq("ps_partkey", s"${partSupplier("ps_partkey", "i")} AS ps_suppkey",
        s"CAST(${between(1, 9999, h(30, "ps_partkey", "i"))} AS INT) AS ps_availqty",
        s"${money(s"1D + ${h(31, "ps_partkey", "i")} * 999D")} AS ps_supplycost",
        s"${comment("ps_partkey * 4 + i", 32)} AS ps_comment")),
    "TPC-H partsupp (generated, scale factor 0.01)")

  val Customer: SampleTable = SampleTable("tpch", "customer",
    schema("c_custkey" -> LongType, "c_name" -> StringType, "c_address" -> StringType, "c_nationkey" -> LongType,
      "c_phone" -> StringType, "c_acctbal" -> Money, "c_mktsegment" -> StringType, "c_comment" -> StringType), Customers,
    Seq(Seq("id + 1 AS c_custkey", s"${between(0, 24, h(40, "id"))} AS c_nationkey"),
      Seq("c_custkey", "concat('Customer#', lpad(CAST(c_custkey AS STRING), 9, '0')) AS c_name",
        s"${address("c_custkey", 41)} AS c_address", "c_nationkey", s"${phone("c_nationkey", "c_custkey", 42)} AS c_phone",
        s"${money(s"-999.99D + ${h(45, "c_custkey")} * 10999.98D")} AS c_acctbal",
        s"${pick(Segments, h(46, "c_custkey"))} AS c_mktsegment", s"${comment("c_custkey", 47)} AS c_comment")),
    "TPC-H customer (generated, scale factor 0.01)")

  val OrdersTable: SampleTable = SampleTable("tpch", "orders",
    schema("o_orderkey" -> LongType, "o_custkey" -> LongType, "o_orderstatus" -> StringType, "o_totalprice" -> Money,
      "o_orderdate" -> DateType, "o_orderpriority" -> StringType, "o_clerk" -> StringType, "o_shippriority" -> IntegerType,
      "o_comment" -> StringType), Orders,
    Seq(Seq(s"${orderKey("id")} AS o_orderkey"),
      Seq("o_orderkey",
        // dbgen: customers whose key is a multiple of 3 place no orders.
        s"(${between(0, Customers / 3 * 2 - 1, h(50, "o_orderkey"))} div 2) * 3 + " +
          s"${between(0, Customers / 3 * 2 - 1, h(50, "o_orderkey"))} % 2 + 1 AS o_custkey",
        s"${lines("o_orderkey", "0", s"acc + IF(${shipDate("o_orderkey", "ln")} > $CurrentDate, 1, 0)")} AS open_lines",
        s"${lineCount("o_orderkey")} AS line_count"),
      Seq("o_orderkey", "o_custkey",
        "CASE WHEN open_lines = 0 THEN 'F' WHEN open_lines = line_count THEN 'O' ELSE 'P' END AS o_orderstatus",
        s"${money(lines("o_orderkey", "0D", s"acc + ${linePrice("o_orderkey", "ln")} * (1D + ${lineTax("o_orderkey", "ln")}) * " +
          s"(1D - ${lineDiscount("o_orderkey", "ln")})"))} AS o_totalprice",
        s"${orderDate("o_orderkey")} AS o_orderdate", s"${pick(Priorities, h(51, "o_orderkey"))} AS o_orderpriority",
        s"concat('Clerk#', lpad(CAST(${between(1, 10, h(52, "o_orderkey"))} AS STRING), 9, '0')) AS o_clerk",
        "0 AS o_shippriority", s"${comment("o_orderkey", 53)} AS o_comment")),
    "TPC-H orders (generated, scale factor 0.01)")

  val LineItem: SampleTable = SampleTable("tpch", "lineitem",
    schema("l_orderkey" -> LongType, "l_partkey" -> LongType, "l_suppkey" -> LongType, "l_linenumber" -> IntegerType,
      "l_quantity" -> Money, "l_extendedprice" -> Money, "l_discount" -> Money, "l_tax" -> Money,
      "l_returnflag" -> StringType, "l_linestatus" -> StringType, "l_shipdate" -> DateType, "l_commitdate" -> DateType,
      "l_receiptdate" -> DateType, "l_shipinstruct" -> StringType, "l_shipmode" -> StringType, "l_comment" -> StringType),
    Orders * 7,
    Seq(Seq(s"${orderKey("id div 7")} AS l_orderkey", "CAST(id % 7 + 1 AS INT) AS l_linenumber"),
      Seq(s"WHERE l_linenumber <= ${lineCount("l_orderkey")}"),
      Seq("l_orderkey", s"${linePart("l_orderkey", "l_linenumber")} AS l_partkey", "l_linenumber",
        s"${shipDate("l_orderkey", "l_linenumber")} AS l_shipdate",
        s"date_add(${orderDate("l_orderkey")}, CAST(${between(30, 90, h(97, "l_orderkey", "l_linenumber"))} AS INT)) AS l_commitdate"),
      Seq("l_orderkey", "l_partkey",
        s"${partSupplier("l_partkey", between(0, 3, h(98, "l_orderkey", "l_linenumber")))} AS l_suppkey", "l_linenumber",
        s"CAST(${lineQuantity("l_orderkey", "l_linenumber")} AS DECIMAL(18,2)) AS l_quantity",
        s"${money(linePrice("l_orderkey", "l_linenumber"))} AS l_extendedprice",
        s"CAST(${lineDiscount("l_orderkey", "l_linenumber")} AS DECIMAL(18,2)) AS l_discount",
        s"CAST(${lineTax("l_orderkey", "l_linenumber")} AS DECIMAL(18,2)) AS l_tax",
        s"date_add(l_shipdate, CAST(${between(1, 30, h(99, "l_orderkey", "l_linenumber"))} AS INT)) AS l_receiptdate",
        "l_shipdate", "l_commitdate"),
      Seq("l_orderkey", "l_partkey", "l_suppkey", "l_linenumber", "l_quantity", "l_extendedprice", "l_discount", "l_tax",
        s"CASE WHEN l_receiptdate <= $CurrentDate THEN ${pick(Seq("R", "A"), h(100, "l_orderkey", "l_linenumber"))} " +
          "ELSE 'N' END AS l_returnflag",
        s"CASE WHEN l_shipdate > $CurrentDate THEN 'O' ELSE 'F' END AS l_linestatus",
        "l_shipdate", "l_commitdate", "l_receiptdate",
        s"${pick(Seq("DELIVER IN PERSON", "COLLECT COD", "NONE", "TAKE BACK RETURN"), h(101, "l_orderkey", "l_linenumber"))} " +
          "AS l_shipinstruct",
        s"${pick(Seq("REG AIR", "AIR", "RAIL", "SHIP", "TRUCK", "MAIL", "FOB"), h(102, "l_orderkey", "l_linenumber"))} AS l_shipmode",
        s"${comment("l_orderkey * 8 + l_linenumber", 103)} AS l_comment")),
    "TPC-H lineitem (generated, scale factor 0.01)")

  val All: Seq[SampleTable] = Seq(Customer, LineItem, Nation, OrdersTable, Part, PartSupp, Region, Supplier)
}
