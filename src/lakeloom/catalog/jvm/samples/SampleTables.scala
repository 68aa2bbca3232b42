// The tables of the `samples` catalog and how each one is generated.
//
// Databricks' sample data is not reachable from here, so every table is a generated stand-in with
// Databricks' schema and row count. Every value is derived from the row id with hash expressions
// (xxhash64 of the id and a per-column salt), never rand(): the same rows on every machine and
// Spark version (Spark's ln/exp/pow are StrictMath, round is HALF_UP on decimals).
package io.lakeloom.samples

import org.apache.spark.sql.types._

/**
 * One sample table: its schema, and the SQL that makes its rows from `id` (0 until `rows`): select
 * lists applied in turn, or a one-element stage "WHERE <condition>" that drops ids.
 */
case class SampleTable(schema: String, name: String, columns: StructType, rows: Long, stages: Seq[Seq[String]],
                       comment: String) {
  def fullName(catalog: String): String = s"$catalog.$schema.$name"
}

object SampleTables {
  /** Bumped whenever generated data changes: a new version is materialized in a new folder. */
  val DataVersion = "v1"

  /** A uniform double in [0, 1) from the row id and a salt (53 bits of xxhash64). */
  private def u(salt: Int): String = s"((xxhash64(id, $salt) & 9007199254740991) / 9007199254740992D)"

  /** One of `values`, picked by a uniform draw; repeats in `values` act as weights. */
  private def pick(values: Seq[Int], draw: String): String =
    s"element_at(array(${values.mkString(", ")}), CAST(floor($draw * ${values.size}) AS INT) + 1)"

  // Pickup and drop-off ZIP codes, Manhattan-heavy as in the real data; repeats weight them.
  private val ManhattanZips = Seq(10001, 10001, 10002, 10003, 10003, 10003, 10004, 10005, 10006, 10007, 10009,
    10010, 10011, 10011, 10011, 10012, 10013, 10013, 10014, 10016, 10016, 10017, 10018, 10019, 10019, 10021,
    10022, 10022, 10023, 10023, 10024, 10025, 10026, 10028, 10029, 10036, 10036, 10038, 10065, 10069, 10075,
    10103, 10110, 10119, 10128, 10153, 10162, 10165, 10170, 10199, 10280, 10282)
  private val OuterBoroughZips = Seq(11101, 11102, 11103, 11106, 11109, 11201, 11205, 11206, 11211, 11211, 11215,
    11217, 11222, 11231, 11238, 11354, 11377, 11385, 10451, 10454, 10463)
  private val AirportZips = Seq(11371, 11430, 11430, 7114)

  private val Base = "1451606400" // 2016-01-01 00:00:00 UTC; pickups span the 60 days of January and February

  val NycTaxiTrips: SampleTable = SampleTable(
    "nyctaxi", "trips",
    new StructType()
      .add("tpep_pickup_datetime", TimestampType)
      .add("tpep_dropoff_datetime", TimestampType)
      .add("trip_distance", DoubleType)
      .add("fare_amount", DoubleType)
      .add("pickup_zip", IntegerType)
      .add("dropoff_zip", IntegerType),
    rows = 21932L,
    stages = Seq(
      Seq("id",
        s"CAST($Base + floor(${u(1)} * 5184000) AS BIGINT) AS pickup_s",
        // Exponential distances (mean about 2.8 miles, a long tail to the airports).
        s"round(0.1D - ln(1D - ${u(2)}) * 2.7D, 2) AS trip_distance",
        s"${u(3)} AS pace", s"${u(4)} AS wait", s"${u(5)} AS airport_draw", s"${u(6)} AS zip_draw",
        s"${u(7)} AS dropoff_draw"),
      Seq("*",
        // 2.4 to 6 minutes a mile (25 to 10 mph) plus up to 4 minutes of waiting.
        "trip_distance * (2.4D + 3.6D * pace) + 1D + 3D * wait AS minutes",
        s"CASE WHEN trip_distance > 9 AND airport_draw < 0.4D THEN ${pick(AirportZips, "zip_draw")} " +
          s"ELSE ${pick(ManhattanZips, "zip_draw")} END AS pickup_zip",
        s"CASE WHEN trip_distance > 9 AND airport_draw >= 0.4D AND airport_draw < 0.8D " +
          s"THEN ${pick(AirportZips, "dropoff_draw")} " +
          s"WHEN dropoff_draw < 0.8D THEN ${pick(ManhattanZips, "dropoff_draw / 0.8D")} " +
          s"ELSE ${pick(OuterBoroughZips, "(dropoff_draw - 0.8D) / 0.2D")} END AS dropoff_zip"),
      Seq(
        "timestamp_seconds(pickup_s) AS tpep_pickup_datetime",
        "timestamp_seconds(pickup_s + CAST(round(minutes * 60D) AS BIGINT)) AS tpep_dropoff_datetime",
        "trip_distance",
        // The 2016 meter: $2.50 flag drop, $2.50 a mile, about 20 cents a minute in traffic, in
        // 50-cent steps; JFK trips to and from Manhattan are the $52 flat fare.
        "CASE WHEN (pickup_zip = 11430 OR dropoff_zip = 11430) AND trip_distance > 12 THEN 52D " +
          "ELSE floor((2.5D + 2.5D * trip_distance + 0.2D * minutes) * 2D) / 2D END AS fare_amount",
        "pickup_zip", "dropoff_zip")),
    comment = "Generated stand-in for Databricks' samples.nyctaxi.trips: the same schema and row count " +
      "(21,932 Yellow Cab trips, January-February 2016); values are synthetic and deterministic.")

  val All: Seq[SampleTable] = Seq(NycTaxiTrips) ++ TpchTables.All

  val Schemas: Map[String, Seq[SampleTable]] = All.groupBy(_.schema)

  def find(schema: String, name: String): Option[SampleTable] =
    Schemas.getOrElse(schema.toLowerCase, Nil).find(_.name == name.toLowerCase)
}
