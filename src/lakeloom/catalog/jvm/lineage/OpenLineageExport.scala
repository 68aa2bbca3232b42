// OpenLineage export of lakeloom's lineage: one COMPLETE RunEvent per write, with the
// columnLineage dataset facet, POSTed to an HTTP endpoint (Marquez: <url>/api/v1/lineage) and/or
// appended to a file (one event per line), like OpenLineage's own http and file transports.
// Sending happens on a background thread so a slow receiver never stalls Spark's listener bus.
package org.apache.spark.sql.lakeloom.lineage

import java.io.{File, FileOutputStream}
import java.net.URI
import java.net.http.{HttpClient, HttpRequest, HttpResponse}
import java.nio.charset.StandardCharsets
import java.time.{Duration, Instant}
import java.util.UUID
import java.util.concurrent.{Executors, TimeUnit}

import scala.util.control.NonFatal

import com.fasterxml.jackson.databind.ObjectMapper
import com.fasterxml.jackson.databind.node.ObjectNode
import org.apache.spark.SparkConf
import org.apache.spark.internal.Logging

object OpenLineageExport {
  val Prefix = "spark.lakeloom.openlineage."
  val Producer = "https://github.com/lakeloom/lakeloom"
  val SchemaUrl = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
  val ColumnFacetSchema = "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet"
  val ParentFacetSchema = "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json#/$defs/ParentRunFacet"

  def fromConf(conf: SparkConf): Option[OpenLineageExport] = {
    val url = conf.getOption(Prefix + "url").filter(_.nonEmpty)
    val file = conf.getOption(Prefix + "file").filter(_.nonEmpty)
    if (url.isEmpty && file.isEmpty) None
    else Some(new OpenLineageExport(url.map(_.stripSuffix("/") + conf.get(Prefix + "endpoint", "/api/v1/lineage")),
      file.map(new File(_)), conf.get(Prefix + "namespace", "lakeloom"), conf.getOption(Prefix + "api_key")))
  }
}

class OpenLineageExport(url: Option[String], file: Option[File], namespace: String, apiKey: Option[String])
    extends Logging {
  import OpenLineageExport._

  private val mapper = new ObjectMapper()
  private lazy val client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()
  private val sender = Executors.newSingleThreadExecutor { (r: Runnable) =>
    val t = new Thread(r, "lakeloom-openlineage")
    t.setDaemon(true)
    t
  }
  sys.addShutdownHook { sender.shutdown(); sender.awaitTermination(10, TimeUnit.SECONDS) }

  def send(writes: Seq[Write], ctx: StatementContext, statementId: String, time: Long): Unit = {
    val events = writes.map(event(_, ctx, statementId, time)).map(mapper.writeValueAsString)
    sender.submit(new Runnable {
      override def run(): Unit = events.foreach(deliver)
    })
  }

  private def deliver(json: String): Unit = {
    file.foreach { f =>
      Option(f.getParentFile).foreach(_.mkdirs())
      val out = new FileOutputStream(f, true)
      try out.write((json + "\n").getBytes(StandardCharsets.UTF_8)) finally out.close()
    }
    url.foreach { u =>
      try {
        val req = HttpRequest.newBuilder(URI.create(u)).timeout(Duration.ofSeconds(20))
          .header("Content-Type", "application/json")
        apiKey.foreach(k => req.header("Authorization", s"Bearer $k"))
        val resp = client.send(req.POST(HttpRequest.BodyPublishers.ofString(json)).build(),
          HttpResponse.BodyHandlers.discarding())
        if (resp.statusCode() >= 300) logWarning(s"OpenLineage receiver $u answered ${resp.statusCode()}")
      } catch { case NonFatal(e) => logWarning(s"could not send an OpenLineage event to $u", e) }
    }
  }

  private def datasetName(e: Entity): String = e.fullName.orElse(e.path).getOrElse("unknown")

  private def event(w: Write, ctx: StatementContext, statementId: String, time: Long): ObjectNode = {
    val root = mapper.createObjectNode()
    root.put("eventType", "COMPLETE")
    root.put("eventTime", Instant.ofEpochMilli(time).toString)
    root.put("producer", Producer)
    root.put("schemaURL", SchemaUrl)
    val run = root.putObject("run")
    run.put("runId", statementId)
    val jobName = ctx.get("lakeloom.job_name").orElse(ctx.get("lakeloom.job_id").map(id => s"job-$id"))
    for (name <- jobName; runId <- ctx.get("lakeloom.run_id")) {
      val parent = run.putObject("facets").putObject("parent")
      parent.put("_producer", Producer)
      parent.put("_schemaURL", ParentFacetSchema)
      parent.putObject("run").put("runId", UUID.nameUUIDFromBytes(s"lakeloom-run-$name-$runId".getBytes).toString)
      parent.putObject("job").put("namespace", namespace).put("name", name)
    }
    val job = root.putObject("job")
    job.put("namespace", namespace)
    job.put("name", (jobName.toSeq ++ ctx.get("lakeloom.task_key")).mkString(".") match {
      case "" => s"${w.operation}.${datasetName(w.target)}"
      case n => n
    })
    val inputs = root.putArray("inputs")
    w.sources.filterNot(_ == w.target).foreach(s => inputs.addObject().put("namespace", namespace).put("name", datasetName(s)))
    val out = root.putArray("outputs").addObject()
    out.put("namespace", namespace).put("name", datasetName(w.target))
    if (w.columns.nonEmpty) {
      val facet = out.putObject("facets").putObject("columnLineage")
      facet.put("_producer", Producer)
      facet.put("_schemaURL", ColumnFacetSchema)
      val fields = facet.putObject("fields")
      w.columns.groupBy(_.targetColumn).toSeq.sortBy(_._1).foreach { case (col, edges) =>
        val arr = fields.putObject(col).putArray("inputFields")
        edges.foreach { e =>
          val f = arr.addObject().put("namespace", namespace).put("name", datasetName(e.source)).put("field", e.sourceColumn)
          f.putArray("transformations")
        }
      }
    }
    root
  }
}
