// Unity Catalog's privileges on a volume's files, decided by the catalog's governance (authz/Access):
//   read or list files              USE CATALOG, USE SCHEMA, READ VOLUME
//   create, update or delete files  USE CATALOG, USE SCHEMA, READ VOLUME, WRITE VOLUME
// Owners hold every privilege (the owner is the volume record's `owner`, see LakeloomVolumes);
// CREATE/DROP VOLUME are checked by authz/Enforcement.authorizeVolumeOp.
//
// The path file systems (catalog/jvm/fs, a jar on the driver's class path that cannot link
// against this one) call `checkFiles` by reflection through the calling thread's context class
// loader, which Spark points at the jars of `spark.jars`; without it (a cluster without the
// catalog jar) there is nothing to enforce. The principal is the thread's `lakeloom.principal`
// (authz/Identity: the SparkContext local property on driver threads, the TaskContext's on
// executor threads).
package io.lakeloom.catalog.volumes

import java.util.concurrent.ConcurrentHashMap

import io.lakeloom.catalog.authz.{Access, AccessDeniedException, Audit, Identity, Securable}

object VolumeAuthorization {
  val ReadVolume = "READ_VOLUME"
  val WriteVolume = "WRITE_VOLUME"
  private val AuditEveryMillis = 60000L
  private val lastAudited = new ConcurrentHashMap[(String, String, Boolean), java.lang.Long]()

  /** Throws `[INSUFFICIENT_PERMISSIONS]` unless the calling thread's principal may read (or, with
   *  `write`, change) files of volume `catalog.schema.volume`. Called for every file-system access. */
  def checkFiles(catalog: String, schema: String, volume: String, write: Boolean): Unit =
    Access.current.foreach { access =>
      val user = Identity.currentUser()
      val s = Securable("VOLUME", Seq(catalog, schema, volume))
      val needed = if (write) Seq(ReadVolume, WriteVolume) else Seq(ReadVolume)
      val params = Map("volume_full_name" -> s.fullName, "operation" -> (if (write) WriteVolume else ReadVolume))
      try {
        access.requireUse(user, s)
        needed.foreach(p => if (!access.holds(user, p, s)) throw AccessDeniedException.insufficient(user, p, s))
      } catch {
        case e: AccessDeniedException =>
          Audit.log(access.dir, "generateTemporaryVolumeCredential", user, params, 403, Some(e.getMessage),
            immediate = true)
          throw e
      }
      // Every read of every file asks again; the audit keeps one allowed event a minute per principal and volume.
      val now = System.currentTimeMillis()
      val key = (user, s.fullName, write)
      val last = lastAudited.get(key)
      if (last == null || now - last >= AuditEveryMillis) {
        lastAudited.put(key, now)
        Audit.log(access.dir, "generateTemporaryVolumeCredential", user, params, 200)
      }
    }
}
