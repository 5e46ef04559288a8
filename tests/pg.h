/*
 * pg.h - the PostgreSQL server of a test, chosen by VISAGE_TEST_PG:
 *   postgresql://...   use that server;
 *   skip[:reason]      no PostgreSQL: the test says SKIP and why for its PostgreSQL half;
 *   unset              start a throwaway one with scripts/pg_test_server.sh (run from the
 *                      repository root) and stop it in test_pg_end; if it cannot start, SKIP
 *                      with its message.
 * test_pg_schema_url makes a fresh schema on it and the URL that selects it, so that cases
 * (and reruns against a kept server) never see each other's rows.
 */
#ifndef VS_TESTS_PG_H
#define VS_TESTS_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct test_pg {
    char url[512]; /* the server's URL; "" when there is none (why says why) */
    char why[512];
    int started; /* started here: stop it at the end */
} test_pg;

/* Starts a server with scripts/pg_test_server.sh; 1 with its URL in pg->url. */
static int test_pg_start(test_pg *pg)
{
    if (access("scripts/pg_test_server.sh", X_OK) != 0) {
        snprintf(pg->why, sizeof pg->why,
                 "scripts/pg_test_server.sh not found (run from the repository root)");
        return 0;
    }
    FILE *p = popen("scripts/pg_test_server.sh start 2>&1", "r");
    char line[512] = "";
    int ok = 0;
    while (p && fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "postgresql://", 13) == 0) {
            snprintf(pg->url, sizeof pg->url, "%s", line);
            ok = 1;
        } else {
            snprintf(pg->why, sizeof pg->why, "%s", line);
        }
    }
    if (p && pclose(p) != 0)
        ok = 0;
    if (!ok)
        pg->url[0] = '\0';
    return ok;
}

/* 1 when pg->url names a server to use; else pg->why says why not. */
static int test_pg_begin(test_pg *pg)
{
    memset(pg, 0, sizeof *pg);
    const char *env = getenv("VISAGE_TEST_PG");
    if (env && strncmp(env, "skip", 4) == 0) {
        snprintf(pg->why, sizeof pg->why, "%s", env[4] == ':' ? env + 5 : "VISAGE_TEST_PG=skip");
    } else if (env && *env) {
        snprintf(pg->url, sizeof pg->url, "%s", env);
    } else {
        pg->started = test_pg_start(pg);
        if (!pg->started && !*pg->why)
            snprintf(pg->why, sizeof pg->why, "the test server did not start");
    }
    return pg->url[0] != '\0';
}

static void test_pg_end(test_pg *pg)
{
    if (!pg->started)
        return;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "scripts/pg_test_server.sh stop '%s'", pg->url);
    if (system(cmd) != 0)
        printf("  warning: could not stop the test server %s\n", pg->url);
    pg->started = 0;
}

static void test_pg_quiet(void *arg, const char *msg)
{
    (void)arg;
    (void)msg;
}

/* Creates (or empties) schema `schema` on the server at url and writes the URL that selects it
 * into out.  1 on success, else 0 with the reason printed. */
static int test_pg_schema_url(const char *url, const char *schema, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    PGconn *c = PQconnectdb(url);
    PQsetNoticeProcessor(c, test_pg_quiet, NULL); /* "schema ... does not exist, skipping" */
    PGresult *res = PQstatus(c) == CONNECTION_OK ? PQexec(c, sql) : NULL;
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        printf("  postgres: %s", PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    snprintf(out, cap, "%s%coptions=-csearch_path%%3D%s", url, strchr(url, '?') ? '&' : '?',
             schema);
    return ok;
}

#endif
