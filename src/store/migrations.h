/*
 * migrations.h - private: the versioned schema of the store and the code that applies it.
 *
 * See the DESIGN NOTES in migrations.c for the rules a new migration must follow.
 */
#ifndef VS_STORE_MIGRATIONS_H
#define VS_STORE_MIGRATIONS_H

#include "store_db.h"

/* Statement ids the migration runner uses on a connection; store.c's own ids start after. */
enum { VS_MIG_STMT_CURRENT = 0, VS_MIG_STMT_RECORD = 1, VS_MIG_STMT_COUNT = 2 };

/* The newest schema version this build knows. */
int vs_migrations_latest(void);

/*
 * Brings the database of connection c up to the newest version in one transaction (taking the
 * database's write lock first, so two processes opening at once apply each migration once).
 *   version_out  OUT: the version the database is at afterwards.
 * Errors: VS_UNSUPPORTED if the database is at a version newer than this build knows (nothing
 * is changed); any driver error (the transaction is rolled back).
 */
vs_status vs_migrations_apply(const vs_db_driver *d, vs_db_conn *c, int *version_out, vs_err *err);

#endif
