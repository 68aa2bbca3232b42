// Access to the few private[sql] / private[spark] helpers the lakeloom catalog needs.
// Living under org.apache.spark.sql lets scalac grant that access at compile time; Unity
// Catalog's connector reaches V1Table by reflection instead, which is more fragile.
package org.apache.spark.sql.lakeloom

import org.apache.spark.sql.catalyst.catalog.CatalogTable
import org.apache.spark.sql.connector.catalog.{CatalogV2Util, Column, Table, V1Table}
import org.apache.spark.sql.types.StructType

object SparkInternals {
  /** Wraps catalog metadata the way Spark's session catalog does; Delta turns it into a DeltaTableV2. */
  def v1Table(table: CatalogTable): Table = V1Table(table)

  def columnsToStruct(columns: Array[Column]): StructType =
    CatalogV2Util.v2ColumnsToStructType(columns)

  def structToColumns(schema: StructType): Array[Column] =
    CatalogV2Util.structTypeToV2Columns(schema)

  /** The principal recorded as owner of what a statement creates: the run's principal. */
  def currentUser: String = io.lakeloom.catalog.authz.Identity.ownerForNewObjects
}
