/*
 * test_app.c - the service end to end on real photos: enrolment, identification in bands, one
 * anonymous person per stranger, and crash safety of `visage import`.
 *
 * Cases:
 *   bbt_group_photos_name_enrolled_people  enrol the 8 bbt people from one crop each, identify
 *                                          bbt1..5.jpg: every KNOWN face is a person whose
 *                                          crop is of that person by position (checked against
 *                                          the other 4 crops of each person instead: each
 *                                          KNOWN answer must also be the best match of the
 *                                          face among all 40 crops' owners)
 *   unknown_visitors_one_per_person        enrol nobody; identify crops 1..5 of each bbt person
 *                                          and 4+ photos each of LFW people with many photos,
 *                                          with record_unknown: exactly one anonymous person
 *                                          per real person, none shared by two real people
 *   enrol_refuses_with_reasons             a photo with no face and a blurred one are refused
 *                                          with reasons; nothing is written
 *   import_survives_sigkill                run `visage import` on a folder, SIGKILL it midway,
 *                                          reopen: every stored face is in the index (sizes
 *                                          agree), and a second import completes the rest
 *                                          without duplicating anything
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/app.h"
#include "img/img.h"

#include "check.h"

static const char *const bbt_people[8] = {"amy",   "bernadette", "howard",  "leonard",
                                          "penny", "raj",        "sheldon", "stuart"};

static vs_app *open_app(const char *db)
{
    vs_app *app;
    vs_err err = {{0}};
    vs_app_config cfg = {.db = db, .threads = 1};
    if (vs_app_open(&cfg, &app, &err) != VS_OK) {
        printf("  cannot open app: %s\n", err.msg);
        return NULL;
    }
    return app;
}

static vs_image *load(const char *fmt, const char *a, int n)
{
    char path[1024];
    snprintf(path, sizeof path, fmt, data_root(), a, a, n);
    vs_image *img = NULL;
    vs_img_load(path, NULL, &img, NULL);
    return img;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The k-th photo (sorted by name) of an LFW person: the file numbers have gaps. */
static vs_image *load_nth_lfw(const char *person, int k)
{
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/lfw-dev/images/%s", data_root(), person);
    DIR *d = opendir(dir);
    char *names[64];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64)
        if (e->d_name[0] != '.')
            names[n++] = strdup(e->d_name);
    if (d)
        closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_name);
    vs_image *img = NULL;
    if (k < n) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        vs_img_load(path, NULL, &img, NULL);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    return img;
}

static void bbt_group_photos_name_enrolled_people(const char *dir)
{
    char db[512];
    snprintf(db, sizeof db, "%s/bbt.db", dir);
    vs_app *app = open_app(db);
    vs_app_worker *w;
    vs_err err = {{0}};
    CHECK(app && vs_app_worker_new(app, &w, &err) == VS_OK, "worker: %s", err.msg);
    if (!app)
        return;
    int64_t ids[8];
    for (int p = 0; p < 8; p++) {
        vs_image *img = load("%s/bbt/%s/%s%d.png", bbt_people[p], 1);
        vs_person prof = {.kind = VS_PERSON_CUSTOMER,
                          .consent_status = VS_CONSENT_GIVEN,
                          .name = (char *)bbt_people[p]};
        vs_enroll_photo ph = {img, "test"};
        vs_enroll_result res;
        CHECK(img && vs_app_enroll(w, &prof, 0, &ph, 1, &res, &err) == VS_OK && res.n_added == 1,
              "enrol %s: %s", bbt_people[p], err.msg);
        ids[p] = res.person_id;
        vs_image_free(img);
    }
    /* The truth for a face in a group photo: the person whose other crops (2..5) it matches
     * best, decided by the pipeline's own matcher on crops that were never enrolled. */
    vs_face_models *fm;
    vs_face_ctx *fc;
    vs_face_config fcfg = {.threads = 1, .no_attributes = 1, .no_liveness = 1};
    CHECK(vs_face_models_load(&fcfg, &fm, &err) == VS_OK, "%s", err.msg);
    CHECK(vs_face_ctx_new(fm, &fc, &err) == VS_OK, "%s", err.msg);
    static vs_face crops[8][4];
    for (int p = 0; p < 8; p++)
        for (int k = 0; k < 4; k++) {
            vs_image *img = load("%s/bbt/%s/%s%d.png", bbt_people[p], k + 2);
            vs_face_result r;
            CHECK(img && vs_face_analyze(fc, img, NULL, &r, &err) == VS_OK && r.n >= 1,
                  "crop %s %d", bbt_people[p], k + 2);
            if (r.n >= 1)
                crops[p][k] = r.faces[0];
            vs_image_free(img);
        }
    int known = 0, right = 0, total = 0;
    for (int g = 1; g <= 5; g++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/bbt/bbt%d.jpg", data_root(), g);
        vs_image *img = NULL;
        vs_img_load(path, NULL, &img, NULL);
        vs_identify_result res;
        /* A bound on the faces analysed is kept (the server's --max-faces). */
        vs_identify_opts two = vs_identify_opts_default();
        two.max_faces = 2;
        CHECK(img && vs_app_identify(w, img, &two, &res, &err) == VS_OK && res.n <= 2,
              "max_faces 2: %d faces", img ? res.n : -1);
        CHECK(img && vs_app_identify(w, img, NULL, &res, &err) == VS_OK, "%s", err.msg);
        for (int i = 0; img && i < res.n; i++) {
            total++;
            if (res.ids[i].band != VS_BAND_KNOWN)
                continue;
            known++;
            int best = -1;
            float best_s = -1e9f;
            for (int p = 0; p < 8; p++)
                for (int k = 0; k < 4; k++) {
                    float s;
                    if (vs_face_compare(fm, res.ids[i].face, &crops[p][k], &s, NULL) == VS_OK &&
                        s > best_s) {
                        best_s = s;
                        best = p;
                    }
                }
            right += best >= 0 && ids[best] == res.ids[i].person_id;
            CHECK(best >= 0 && ids[best] == res.ids[i].person_id,
                  "bbt%d face %d named person %lld, its best crop match is %s", g, i + 1,
                  (long long)res.ids[i].person_id, best >= 0 ? bbt_people[best] : "-");
        }
        vs_image_free(img);
    }
    printf("  bbt1..5: %d faces, %d known, %d of them confirmed by the held-out crops\n", total,
           known, right);
    CHECK(known >= total * 3 / 4, "only %d of %d faces known", known, total);
    vs_face_ctx_free(fc);
    vs_face_models_free(fm);
    vs_app_worker_free(w);
    vs_app_close(app);
}

/* Identifies each photo with record_unknown and returns the person it was given (0: none). */
static int64_t sighting(vs_app_worker *w, vs_image *img)
{
    vs_identify_opts o = vs_identify_opts_default();
    o.record_unknown = 1;
    o.record_visit = 1;
    vs_identify_result r;
    if (!img || vs_app_identify(w, img, &o, &r, NULL) != VS_OK || r.n < 1)
        return 0;
    int best = 0; /* the most prominent face */
    for (int i = 1; i < r.n; i++)
        if (r.ids[i].face->det.score > r.ids[best].face->det.score)
            best = i;
    return r.ids[best].person_id;
}

static void unknown_visitors_one_per_person(const char *dir)
{
    char db[512];
    snprintf(db, sizeof db, "%s/visitors.db", dir);
    vs_app *app = open_app(db);
    vs_app_worker *w;
    if (!app || vs_app_worker_new(app, &w, NULL) != VS_OK) {
        CHECK(0, "open");
        return;
    }
    /* Real people: 8 bbt people x 5 crops, and LFW people with many photos x 5 photos. */
    static const char *const lfw[] = {"Ricardo_Lagos", "Paul_Wolfowitz", "Jennifer_Lopez",
                                      "Zhu_Rongji", "John_Bolton"};
    char lfw_dir[1024];
    snprintf(lfw_dir, sizeof lfw_dir, "%s/lfw-dev/images", data_root());
    int have_lfw = access(lfw_dir, R_OK) == 0;
    if (!have_lfw)
        printf("  (no %s: the LFW people of this case are skipped, bbt only)\n", lfw_dir);
    enum { N_BBT = 8, SHOTS = 5 };
    const int N_REAL = have_lfw ? N_BBT + 5 : N_BBT;
    int64_t got[N_BBT + 5][SHOTS];
    for (int p = 0; p < N_REAL; p++)
        for (int k = 0; k < SHOTS; k++) {
            vs_image *img = p < 8 ? load("%s/bbt/%s/%s%d.png", bbt_people[p], k + 1)
                                  : load_nth_lfw(lfw[p - 8], k);
            got[p][k] = sighting(w, img);
            vs_image_free(img);
        }
    /* Poor-quality sightings that match nobody are not kept (id 0); every kept sighting of a
     * real person must land on the same anonymous person, and no two real people may share
     * one. */
    int people_ok = 0;
    for (int p = 0; p < N_REAL; p++) {
        int64_t id = 0;
        int kept = 0, split = 0;
        for (int k = 0; k < SHOTS; k++) {
            if (!got[p][k])
                continue;
            kept++;
            split += id && got[p][k] != id;
            if (!id)
                id = got[p][k];
        }
        int shared = 0;
        for (int q = 0; q < N_REAL; q++)
            for (int b = 0; q != p && b < SHOTS; b++)
                shared += id && got[q][b] == id;
        printf("  real person %2d: %d of %d sightings kept, on anonymous person %lld%s%s\n", p,
               kept, SHOTS, (long long)id, split ? " (SPLIT)" : "", shared ? " (SHARED)" : "");
        CHECK(kept >= 3 && !split && !shared, "real person %d: kept %d, split %d, shared %d", p,
              kept, split, shared);
        people_ok += kept >= 3 && !split && !shared;
    }
    vs_person_filter f = {.kind = VS_PERSON_ANONYMOUS};
    int64_t n_anon = 0;
    vs_store_person_count(vs_app_store(app), &f, &n_anon, NULL);
    printf("  %d real people, %lld anonymous persons, %d people with every kept sighting on "
           "one anonymous person of their own\n",
           N_REAL, (long long)n_anon, people_ok);
    CHECK(n_anon == N_REAL, "%lld anonymous persons for %d real people", (long long)n_anon, N_REAL);
    vs_app_worker_free(w);
    vs_app_close(app);
}

static void enrol_refuses_with_reasons(const char *dir)
{
    char db[512];
    snprintf(db, sizeof db, "%s/refuse.db", dir);
    vs_app *app = open_app(db);
    vs_app_worker *w;
    if (!app || vs_app_worker_new(app, &w, NULL) != VS_OK) {
        CHECK(0, "open");
        return;
    }
    vs_image *blank = NULL, *blur = load("%s/bbt/%s/%s%d.png", "penny", 1);
    vs_image_new(200, 200, 3, &blank, NULL);
    memset(blank->px, 128, blank->stride * 200);
    /* Box blur the crop heavily: the face stays findable but is no longer sharp. */
    for (int pass = 0; blur && pass < 3; pass++)
        for (int y = 1; y < blur->h - 1; y++)
            for (int x = 1; x < blur->w - 1; x++)
                for (int c = 0; c < 3; c++) {
                    uint8_t *p = blur->px + y * blur->stride + x * 3 + c;
                    p[0] =
                        (uint8_t)((p[-3] + p[0] + p[3] + p[-(long)blur->stride] + p[blur->stride]) /
                                  5);
                }
    vs_enroll_photo ph[2] = {{blank, "blank"}, {blur, "blurred"}};
    vs_enroll_result res;
    vs_err err = {{0}};
    vs_person prof = {
        .kind = VS_PERSON_CUSTOMER, .consent_status = VS_CONSENT_GIVEN, .name = "nobody"};
    CHECK(vs_app_enroll(w, &prof, 0, ph, 2, &res, &err) == VS_OK, "%s", err.msg);
    CHECK(res.n_added == 0 && res.person_id == 0 && res.n_refused == 2,
          "added %d refused %d person %lld", res.n_added, res.n_refused, (long long)res.person_id);
    for (int i = 0; i < res.n_refused; i++)
        printf("  refused %s: %s\n", ph[res.refused[i].photo].source, res.refused[i].reason);
    int64_t n = -1;
    vs_store_person_count(vs_app_store(app), &(vs_person_filter){0}, &n, NULL);
    CHECK(n == 0, "%lld persons written", (long long)n);
    vs_image_free(blank);
    vs_image_free(blur);
    vs_app_worker_free(w);
    vs_app_close(app);
}

/* Identifies one photo and returns the identity of its most prominent face (or NULL). */
static const vs_identity *first_identity(vs_app_worker *w, vs_image *img, int record,
                                         vs_identify_result *r)
{
    vs_identify_opts o = vs_identify_opts_default();
    o.record_unknown = o.record_visit = record;
    if (!img || vs_app_identify(w, img, &o, r, NULL) != VS_OK || r->n < 1)
        return NULL;
    return &r->ids[0];
}

static void visitors_are_named_merged_reviewed(const char *dir)
{
    char db[512];
    snprintf(db, sizeof db, "%s/people.db", dir);
    vs_app *app = open_app(db);
    vs_app_worker *w;
    if (!app || vs_app_worker_new(app, &w, NULL) != VS_OK) {
        CHECK(0, "open");
        return;
    }
    vs_err err = {{0}};
    vs_identify_result r;
    /* A stranger (penny) becomes anonymous visitor A; staff name A; A is then known by name. */
    vs_image *img = load("%s/bbt/%s/%s%d.png", "penny", 1);
    const vs_identity *id = first_identity(w, img, 1, &r);
    vs_image_free(img);
    int64_t a = id ? id->person_id : 0;
    CHECK(id && id->new_anonymous && a, "penny1 did not become an anonymous visitor");
    CHECK(vs_app_name_visitor(app, a, "Penny", &err) == VS_OK, "%s", err.msg);
    img = load("%s/bbt/%s/%s%d.png", "penny", 4);
    id = first_identity(w, img, 0, &r);
    vs_image_free(img);
    vs_person p = {0};
    CHECK(id && id->band == VS_BAND_KNOWN && id->person_id == a, "penny4 not known as A");
    CHECK(vs_store_person_get(vs_app_store(app), a, &p, NULL) == VS_OK && p.name &&
              strcmp(p.name, "Penny") == 0 && p.kind == VS_PERSON_CUSTOMER,
          "A was not named");
    vs_person_clear(&p);
    /* raj is seen as anonymous B, then enrolled as Raj from another photo; B merges into Raj. */
    img = load("%s/bbt/%s/%s%d.png", "raj", 1);
    id = first_identity(w, img, 1, &r);
    vs_image_free(img);
    int64_t b = id ? id->person_id : 0;
    vs_image *raj2 = load("%s/bbt/%s/%s%d.png", "raj", 2);
    vs_enroll_photo ph = {raj2, "raj2"};
    vs_enroll_result er;
    vs_person prof = {
        .kind = VS_PERSON_CUSTOMER, .consent_status = VS_CONSENT_GIVEN, .name = "Raj"};
    /* Enrolling Raj warns that he already matches visitor B. */
    CHECK(vs_app_enroll(w, &prof, 0, &ph, 1, &er, &err) == VS_OK && er.n_added == 1, "%s", err.msg);
    CHECK(er.duplicate_of == b, "no duplicate warning for Raj (got %lld, visitor %lld)",
          (long long)er.duplicate_of, (long long)b);
    vs_image_free(raj2);
    int64_t raj = er.person_id;
    CHECK(vs_app_merge(app, b, raj, "test", &err) == VS_OK, "merge: %s", err.msg);
    vs_face_list fl = {0};
    vs_store_face_list(vs_app_store(app), raj, &fl, NULL);
    CHECK(fl.n == 2, "Raj has %zu faces after the merge", fl.n);
    img = load("%s/bbt/%s/%s%d.png", "raj", 3);
    id = first_identity(w, img, 0, &r);
    CHECK(id && id->band == VS_BAND_KNOWN && id->person_id == raj, "raj3 not known as Raj");
    /* A reviewer confirms a match: the face joins Raj's template and the answer is kept. */
    if (id) {
        vs_identity possible = *id;
        possible.band = VS_BAND_POSSIBLE;
        CHECK(vs_app_review(w, &possible, 1, "tester", &err) == VS_OK, "review: %s", err.msg);
    }
    vs_image_free(img);
    vs_face_list_free(&fl);
    vs_store_face_list(vs_app_store(app), raj, &fl, NULL);
    CHECK(fl.n == 3, "Raj has %zu faces after the confirmed review", fl.n);
    vs_audit_list al = {0};
    vs_store_audit_list(vs_app_store(app), 0, 100, &al, NULL);
    int confirms = 0;
    for (size_t i = 0; i < al.n; i++)
        confirms += strcmp(al.items[i].action, "review.confirm") == 0;
    CHECK(confirms == 1, "%d review.confirm audit records", confirms);
    vs_audit_list_free(&al);
    /* Deleting Raj's faces: raj3 is no longer matched to him. */
    for (size_t i = 0; i < fl.n; i++)
        CHECK(vs_app_face_delete(app, fl.items[i].id, &err) == VS_OK, "%s", err.msg);
    vs_face_list_free(&fl);
    img = load("%s/bbt/%s/%s%d.png", "raj", 3);
    id = first_identity(w, img, 0, &r);
    vs_image_free(img);
    CHECK(id && id->person_id != raj, "raj3 still matches Raj after his faces were deleted");
    printf("  visitor named, visitor merged into an enrolled person, review kept, faces "
           "deleted: checked\n");
    vs_app_worker_free(w);
    vs_app_close(app);
}

/* Copies up to `per` photos of each LFW person with >= 3 photos into dir/<person>/. */
static int make_import_dir(const char *dir, int people, int per)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "cd '%s/lfw-dev/images' && n=0; for p in $(ls); do c=$(ls $p | wc -l); "
             "[ $c -ge 3 ] || continue; mkdir -p \"%s/$p\"; ls $p | head -%d | while read f; do "
             "cp $p/$f \"%s/$p/\"; done; n=$((n+1)); [ $n -ge %d ] && break; done",
             data_root(), dir, per, dir, people);
    return system(cmd);
}

static void import_survives_sigkill(const char *dir)
{
    char lfw[1024];
    snprintf(lfw, sizeof lfw, "%s/lfw-dev/images", data_root());
    if (access(lfw, R_OK) != 0) {
        printf("  skipped: the import folder is made from %s, which is missing\n", lfw);
        return;
    }
    char src[512], db[512];
    snprintf(src, sizeof src, "%s/import", dir);
    snprintf(db, sizeof db, "%s/import.db", dir);
    mkdir(src, 0755);
    CHECK(make_import_dir(src, 40, 3) == 0, "making the import folder");
    fflush(stdout); /* the child must not inherit unwritten output */
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execl("build/visage", "visage", "import", src, "--db", db, (char *)NULL);
        _exit(127);
    }
    /* Let it commit some people, then kill it without warning. */
    for (int i = 0; i < 200; i++) {
        usleep(100 * 1000);
        vs_store *st;
        int64_t n = 0;
        if (vs_store_open(db, &st, NULL) == VS_OK) {
            vs_store_face_count(st, NULL, &n, NULL);
            vs_store_close(st);
        }
        if (n >= 30)
            break;
    }
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status), "import finished before it was killed");
    vs_app *app = open_app(db);
    int64_t faces = -1;
    if (app) {
        vs_store_face_count(vs_app_store(app), NULL, &faces, NULL);
        CHECK((int64_t)vs_app_gallery_size(app) == faces, "index %zu faces, store %lld",
              vs_app_gallery_size(app), (long long)faces);
        vs_app_close(app);
    }
    printf("  killed with %lld faces committed; index rebuilt with the same count\n",
           (long long)faces);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "build/visage import '%s' --db '%s' > '%s/resume.txt' 2>&1", src, db,
             dir);
    CHECK(system(cmd) == 0, "resumed import failed");
    /* The resumed import must end where an uninterrupted one ends. */
    char db2[512];
    snprintf(db2, sizeof db2, "%s/import-whole.db", dir);
    snprintf(cmd, sizeof cmd, "build/visage import '%s' --db '%s' > /dev/null 2>&1", src, db2);
    CHECK(system(cmd) == 0, "uninterrupted import failed");
    int64_t counts[2][2] = {{-1, -1}, {-2, -2}};
    const char *dbs[2] = {db, db2};
    for (int i = 0; i < 2; i++) {
        app = open_app(dbs[i]);
        if (!app)
            continue;
        vs_store_face_count(vs_app_store(app), NULL, &counts[i][0], NULL);
        vs_store_person_count(vs_app_store(app), &(vs_person_filter){0}, &counts[i][1], NULL);
        CHECK((int64_t)vs_app_gallery_size(app) == counts[i][0], "index out of step");
        vs_app_close(app);
    }
    printf("  resumed: %lld persons, %lld faces; uninterrupted: %lld persons, %lld faces\n",
           (long long)counts[0][1], (long long)counts[0][0], (long long)counts[1][1],
           (long long)counts[1][0]);
    CHECK(counts[0][0] == counts[1][0] && counts[0][1] == counts[1][1],
          "the resumed import differs from an uninterrupted one");
}

int main(void)
{
    char probe[512];
    snprintf(probe, sizeof probe, "%s/bbt/bbt1.jpg", data_root());
    if (access(probe, R_OK) != 0) {
        printf("SKIP test_app: %s not found (set VISAGE_TEST_DATA to the shared data)\n", probe);
        return 77;
    }
    if (access("models/faceapi", R_OK) != 0) {
        printf("SKIP test_app: models/ is missing (run scripts/setup.sh)\n");
        return 77;
    }
    char dir[] = "/tmp/visage-test-app-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    printf("bbt_group_photos_name_enrolled_people\n");
    bbt_group_photos_name_enrolled_people(dir);
    printf("unknown_visitors_one_per_person\n");
    unknown_visitors_one_per_person(dir);
    printf("visitors_are_named_merged_reviewed\n");
    visitors_are_named_merged_reviewed(dir);
    printf("enrol_refuses_with_reasons\n");
    enrol_refuses_with_reasons(dir);
    printf("import_survives_sigkill\n");
    import_survives_sigkill(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("  could not remove %s\n", dir);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
