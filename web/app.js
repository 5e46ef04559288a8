// app.js - the visage web UI: hash routes, the API client, and one block per page.
//
// The API key lives in sessionStorage (gone when the tab closes) and goes with every request as
// "Authorization: Bearer <key>".  Each page has one message line (role="alert") where every
// outcome is said in words: the API's JSON error message, prefixed by what 401 (bad key), 403
// (role not allowed) and 429 (rate limited) mean.  A 401 after log-in (key revoked) logs out.
// Everything the server returns is put on the page with textContent, never parsed as HTML.
// A few error codes get a plain sentence first too (409 consent_required: consent is missing).
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const session = {
    key: sessionStorage.getItem('visage.key'),
    admin: sessionStorage.getItem('visage.admin') === '1',
};

// ---- helpers ----------------------------------------------------------------------------

// el('a', {href: '#/x'}, 'text', child...) builds an element; children are nodes or strings.
function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props);
    for (const c of children) node.append(c);
    return node;
}

// Writes `text` on the message line of `page` (kind: 'ok', 'error' or '' for progress).
function say(page, text, kind = '') {
    const msg = $(`#page-${page} .msg`);
    msg.textContent = text;
    msg.className = `msg ${kind}`;
}

// The API's times are milliseconds since 1970; null means never.
const when = (ms) => (ms ? new Date(ms).toLocaleString() : '—');

const fixed = (x, digits = 2) => (typeof x === 'number' ? x.toFixed(digits) : '—');
const displayName = (p) =>
    p.kind === 'anonymous' || !p.name ? `unknown visitor #${p.id}` : p.name;

function row(cells) {
    return el('tr', {}, ...cells.map((c) => el('td', {}, c)));
}

function definitions(pairs) {
    return pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]);
}

// A person's free-form attributes: age, gender and tags are shown; `estimated` lists the fields
// the server guessed from the faces (nobody set them).
const attributes = (p) => p.attributes || {};
const estimated = (p, field) =>
    Array.isArray(attributes(p).estimated) && attributes(p).estimated.includes(field);
const tagsOf = (p) => {
    const tags = attributes(p).tags;
    return Array.isArray(tags) ? tags.filter((t) => typeof t === 'string') : [];
};

// "34", "≈34" when estimated ("34 (estimated)" when `long`), "—" when not known.
function ageText(p, long = false) {
    const age = attributes(p).age;
    if (typeof age !== 'number') return '—';
    const a = String(Math.round(age));
    if (!estimated(p, 'age')) return a;
    return long ? `${a} (estimated)` : `≈${a}`;
}

// "female", "female (est.)" when estimated ("female (estimated)" when `long`), "—" when not
// known.
function genderText(p, long = false) {
    const g = attributes(p).gender;
    if (typeof g !== 'string' || !g) return '—';
    return estimated(p, 'gender') ? `${g} (${long ? 'estimated' : 'est.'})` : g;
}

// What became of the photos of an upload (Enrol, Add photos): a line per refused photo, and a
// warning when the new faces already match someone else.
function refusals(files, refused) {
    return refused.map((x) =>
        el('li', {}, `Refused ${files[x.file]?.name ?? `photo ${x.file + 1}`}: ${x.reason}`),
    );
}

function duplicateWarning(id) {
    if (id === null || id === undefined) return [];
    return [
        el(
            'li',
            { className: 'warn' },
            'Possible duplicate of ',
            el('a', { href: `#/people/${id}` }, `person #${id}`),
            ': check they are not the same person.',
        ),
    ];
}

// ---- API ----------------------------------------------------------------------------------

// status: the HTTP status (0: no answer); error: the API's error object ({code, message, ...}).
class ApiError extends Error {
    constructor(status, message, error = {}) {
        super(message);
        this.status = status;
        this.error = error;
    }
}

// Calls the API; `body` is FormData (sent as multipart) or an object (sent as JSON).  Resolves
// to the parsed JSON (null for an empty body) or throws an ApiError with a sentence to show.
async function api(method, path, body, key = session.key) {
    const headers = { Authorization: `Bearer ${key}` };
    if (body && !(body instanceof FormData)) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(body);
    }
    let res;
    try {
        res = await fetch(path, { method, headers, body });
    } catch (e) {
        throw new ApiError(0, `Cannot reach the server (${e.message}).`);
    }
    const text = await res.text();
    let data = null;
    try {
        data = text ? JSON.parse(text) : null;
    } catch {
        // not JSON: the status line says what happened
    }
    if (res.ok) return data;
    const error = data?.error || {};
    const detail = error.message || `${res.status} ${res.statusText}`;
    const what =
        {
            consent_required:
                "The person's consent must be given first: no photo of them can be stored " +
                'without it',
        }[error.code] ||
        {
            401: 'The API key was refused',
            403: "This key's role is not allowed to do that",
            413: 'The upload is too large',
            429: 'Too many requests: wait a moment and try again',
        }[res.status];
    throw new ApiError(res.status, what ? `${what} (${detail}).` : detail, error);
}

// Shows a failed call on `page` (after `what` failed, when given); a refused key while logged in
// ends the session.
function fail(page, err, what = '') {
    if (err.status === 401 && page !== 'login') {
        logout();
        say('login', err.message, 'error');
        return;
    }
    say(page, what ? `${what}: ${err.message}` : err.message, 'error');
}

// ---- routes -------------------------------------------------------------------------------

const loaders = {};
let notice = ''; // said on the next page once it has loaded (e.g. "X was deleted.")

function go(hash, text = '') {
    notice = text;
    if (location.hash === hash) route();
    else location.hash = hash;
}

async function route() {
    const [name, id] = location.hash.replace(/^#\/?/, '').split('/');
    let page = name === 'people' && id ? 'person' : name;
    if (!$(`#page-${page}`) || (page === 'keys' && !session.admin)) page = 'recognize';
    if (!session.key) page = 'login';
    if (page !== 'recognize') stopCamera();
    if (page !== 'keys') {
        $('#key-new').hidden = true;
        $('#key-value').value = '';
    }
    for (const s of document.querySelectorAll('.page')) s.hidden = s.id !== `page-${page}`;
    $('#nav').hidden = !session.key;
    $('#nav-keys').hidden = !session.admin;
    for (const a of document.querySelectorAll('#nav a')) {
        if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    $(`#page-${page} h2`).focus();
    await loaders[page]?.(id);
    if (notice) {
        const msg = $(`#page-${page} .msg`);
        say(
            page,
            `${notice} ${msg.textContent}`.trim(),
            msg.classList.contains('error') ? 'error' : 'ok',
        );
        notice = '';
    }
}

// ---- log in -------------------------------------------------------------------------------

// Any valid key may log in; the key list answers 403 for all roles but admin.
$('#login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('#login-key').value.trim();
    say('login', 'Checking the key…');
    let admin = true;
    try {
        await api('GET', '/v1/keys', null, key);
    } catch (e) {
        if (e.status !== 403) return fail('login', e);
        admin = false;
    }
    Object.assign(session, { key, admin });
    sessionStorage.setItem('visage.key', key);
    sessionStorage.setItem('visage.admin', admin ? '1' : '0');
    $('#login-key').value = '';
    say('login', '');
    go('#/recognize');
});

function logout() {
    Object.assign(session, { key: null, admin: false });
    sessionStorage.clear();
    go('#/login');
}
$('#logout').addEventListener('click', logout);

// ---- recognize ----------------------------------------------------------------------------

const COLOURS = { known: '#1a9c3a', possible: '#d98c00', unknown: '#808080' };
let uploads = 0; // photos sent so far: only the answer for the latest one is shown

async function recognize(blob, filename) {
    const upload = ++uploads;
    const form = new FormData();
    form.append('file', blob, filename);
    form.append('record_visit', $('#rec-visit').checked ? 'true' : 'false');
    form.append('camera', 'web');
    $('#rec-result').hidden = true;
    say('recognize', `Recognizing ${filename}…`);
    try {
        const r = await api('POST', '/v1/recognize', form);
        if (upload !== uploads) return;
        await drawFaces(blob, r);
        $('#rec-cards').replaceChildren(...r.faces.map(faceCard));
        $('#rec-result').hidden = false;
        const known = r.faces.filter((f) => f.decision === 'known').length;
        const light = r.enhanced ? ' The photo was dark and was enhanced.' : '';
        say('recognize', `${filename}: ${r.faces.length} face(s), ${known} known.${light}`, 'ok');
    } catch (e) {
        if (upload === uploads) fail('recognize', e, filename);
    }
}

function loadImage(blob) {
    const url = URL.createObjectURL(blob);
    return new Promise((resolve) => {
        const img = new Image();
        img.onload = () => resolve(img);
        img.onerror = () => resolve(null);
        img.src = url;
    }).finally(() => URL.revokeObjectURL(url));
}

// Draws the photo at the size the server saw it and a numbered box per face.
async function drawFaces(blob, r) {
    const canvas = $('#rec-canvas');
    const ctx = canvas.getContext('2d');
    canvas.width = r.width;
    canvas.height = r.height;
    const img = await loadImage(blob);
    if (img) ctx.drawImage(img, 0, 0, r.width, r.height);
    const line = Math.max(2, Math.round(r.width / 300));
    const font = Math.max(16, Math.round(Math.max(r.width, r.height) / 40));
    ctx.font = `bold ${font}px sans-serif`;
    ctx.textBaseline = 'top';
    r.faces.forEach((f, i) => {
        const [x, y, w, h] = f.box;
        ctx.strokeStyle = ctx.fillStyle = COLOURS[f.decision] || COLOURS.unknown;
        ctx.lineWidth = line;
        ctx.strokeRect(x, y, w, h);
        const label = String(i + 1);
        const tw = ctx.measureText(label).width + 8;
        ctx.fillRect(x, Math.max(0, y - font - 6), tw, font + 6);
        ctx.fillStyle = '#fff';
        ctx.fillText(label, x + 4, Math.max(3, y - font - 3));
    });
    canvas.dataset.boxes = r.faces.length;
}

function faceCard(f, i) {
    const p = f.person;
    const name = p ? displayName(p) : 'unknown';
    const title = p ? el('a', { href: `#/people/${p.id}` }, name) : name;
    const quality = f.quality.good ? 'good' : f.quality.reasons.join(', ');
    const pairs = [
        [
            'Decision',
            f.similarity === null ? f.decision : `${f.decision} (score ${fixed(f.similarity)})`,
        ],
        ['Age', typeof f.age === 'number' ? String(Math.round(f.age)) : '—'],
        ['Gender', f.gender || '—'],
        ['Expression', f.expression || '—'],
        ['Quality', quality],
        ['Liveness', typeof f.liveness === 'number' ? `${Math.round(f.liveness * 100)}%` : '—'],
    ];
    if (p) {
        pairs.push(['Visits', String(p.visits)], ['First seen', when(p.first_seen)]);
        pairs.push(['Last seen', when(p.last_seen)]);
    }
    if (f.decision !== 'known' && f.candidates?.length) {
        pairs.push([
            'Candidates',
            f.candidates.map((c) => `${c.name} ${fixed(c.score)}`).join(', '),
        ]);
    }
    const card = el(
        'article',
        { className: `face ${f.decision}` },
        el('h3', {}, `${i + 1}. `, f.decision === 'possible' ? 'possibly ' : '', title),
        el('dl', {}, ...definitions(pairs)),
    );
    Object.assign(card.dataset, { name, decision: f.decision });
    if (f.new_anonymous)
        card.append(el('p', { className: 'note' }, 'First sighting: a new visitor.'));
    return card;
}

$('#rec-file').addEventListener('change', (ev) => {
    const file = ev.target.files[0];
    if (file) recognize(file, file.name);
    ev.target.value = '';
});

const drop = $('#drop');
drop.addEventListener('dragover', (ev) => {
    ev.preventDefault();
    drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    const file = ev.dataTransfer.files[0];
    if (file) recognize(file, file.name);
});

// Webcam: getUserMedia exists only in secure contexts (https, localhost).
let stream = null;

function showCameraButtons() {
    $('#cam-start').hidden = !!stream;
    $('#cam-snap').hidden = $('#cam-stop').hidden = $('#cam').hidden = !stream;
}

function stopCamera() {
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    showCameraButtons();
}

if (!navigator.mediaDevices?.getUserMedia) {
    $('#cam-start').disabled = true;
    $('#cam-start').title = 'The camera needs https or localhost';
}
$('#cam-start').addEventListener('click', async () => {
    try {
        stream = await navigator.mediaDevices.getUserMedia({ video: true });
        $('#cam').srcObject = stream;
        showCameraButtons();
        $('#cam-snap').focus();
    } catch (e) {
        say('recognize', `The camera is not available (${e.message}).`, 'error');
    }
});
$('#cam-stop').addEventListener('click', stopCamera);
$('#cam-snap').addEventListener('click', () => {
    const video = $('#cam');
    if (!video.videoWidth) return say('recognize', 'The camera is not ready yet.', 'error');
    const c = el('canvas', { width: video.videoWidth, height: video.videoHeight });
    c.getContext('2d').drawImage(video, 0, 0);
    c.toBlob((b) => recognize(b, 'snapshot.jpg'), 'image/jpeg', 0.92);
});

// ---- people -------------------------------------------------------------------------------

const PAGE_SIZE = 10;
const cursors = [null]; // the `after` of every page up to the one shown
let nextAfter = null;
let filters = null; // the query of the list shown, read from the form when it is submitted

// The milliseconds at the start of the local day `date` ("YYYY-MM-DD") plus `days`; '' for none.
function dayStart(date, days) {
    if (!date) return '';
    const [y, m, d] = date.split('-').map(Number);
    return String(new Date(y, m - 1, d + days).getTime());
}

// The form's filters as a query; empty fields are left out (the browser checks the ages' range).
function peopleFilters() {
    const q = new URLSearchParams();
    const pairs = [
        ['name', $('#people-name').value.trim()],
        ['kind', $('#people-kind').value],
        ['gender', $('#people-gender').value],
        ['age_min', $('#people-age-min').value],
        ['age_max', $('#people-age-max').value],
        ['tag', $('#people-tag').value.trim()],
        ['created_from', dayStart($('#people-from').value, 0)],
        ['created_to', dayStart($('#people-to').value, 1)], // to the end of that day
    ];
    for (const [k, v] of pairs) if (v) q.set(k, v);
    return q;
}

async function listPeople() {
    filters ??= peopleFilters();
    const q = new URLSearchParams(filters);
    q.set('limit', PAGE_SIZE);
    if (cursors.at(-1) !== null) q.set('after', cursors.at(-1));
    say('people', 'Loading…');
    try {
        const r = await api('GET', `/v1/persons?${q}`);
        nextAfter = r.next_after;
        $('#people-table tbody').replaceChildren(
            ...r.persons.map((p) =>
                row([
                    el('a', { href: `#/people/${p.id}` }, displayName(p)),
                    p.kind,
                    ageText(p),
                    genderText(p),
                    String(p.faces),
                    String(p.visits),
                    when(p.last_seen),
                ]),
            ),
        );
        say('people', r.persons.length ? '' : 'No one matches.');
    } catch (e) {
        nextAfter = null;
        fail('people', e);
    }
    $('#people-prev').disabled = cursors.length === 1;
    $('#people-next').disabled = nextAfter === null;
}

loaders.people = listPeople;
$('#people-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    filters = peopleFilters();
    cursors.length = 1;
    listPeople();
});
$('#people-next').addEventListener('click', () => {
    cursors.push(nextAfter);
    listPeople();
});
$('#people-prev').addEventListener('click', () => {
    cursors.pop();
    listPeople();
});

// ---- one person ---------------------------------------------------------------------------

let person = null; // the person shown, as the API returned it
let shown = {}; // the attributes as the edit form showed them, to tell what the user changed

loaders.person = async (id) => {
    $('#person-form').hidden = $('#faces-form').hidden = true;
    $('#person-profile').replaceChildren();
    $('#person-faces tbody').replaceChildren();
    $('#faces-refused').replaceChildren();
    $('#person-visits tbody').replaceChildren();
    say('person', 'Loading…');
    try {
        const [r, f, v] = await Promise.all([
            api('GET', `/v1/persons/${id}`),
            api('GET', `/v1/persons/${id}/faces`),
            api('GET', `/v1/persons/${id}/visits`),
        ]);
        showPerson(r);
        showFaces(f.faces);
        $('#person-visits tbody').replaceChildren(
            ...v.visits.map((x) => row([when(x.at), x.camera || '—', fixed(x.score)])),
        );
        const more = v.next_offset ? `The latest ${v.visits.length} visits are listed.` : '';
        say('person', v.visits.length ? more : 'No visits recorded yet.');
    } catch (e) {
        fail('person', e);
    }
};

function showProfile(p) {
    person = p;
    $('#page-person h2').textContent = displayName(p);
    const tags = tagsOf(p);
    $('#person-profile').replaceChildren(
        ...definitions([
            ['Id', String(p.id)],
            ['Kind', p.kind],
            ['Description', p.description || '—'],
            ['Consent', [p.consent.status, p.consent.purpose].filter(Boolean).join(': ')],
            ['Age', ageText(p, true)],
            ['Gender', genderText(p, true)],
            ['Tags', tags.length ? tags.join(', ') : '—'],
            ['Faces', String(p.faces)],
            ['Visits', String(p.visits)],
            ['First seen', when(p.first_seen)],
            ['Last seen', when(p.last_seen)],
            ['Created', when(p.created_at)],
        ]),
    );
}

function showPerson(p) {
    showProfile(p);
    const attrs = attributes(p);
    $('#person-name').value = p.name || '';
    $('#person-desc').value = p.description || '';
    $('#person-kind').value = p.kind;
    $('#person-consent').value = p.consent.status;
    $('#person-purpose').value = p.consent.purpose || '';
    shown = {
        age: typeof attrs.age === 'number' ? String(Math.round(attrs.age)) : '',
        gender: typeof attrs.gender === 'string' ? attrs.gender : '',
        tags: tagsOf(p).join(','),
    };
    $('#person-age').value = shown.age;
    const gender = $('#person-gender');
    for (const o of gender.querySelectorAll('.other')) o.remove();
    if (![...gender.options].some((o) => o.value === shown.gender))
        gender.append(el('option', { className: 'other' }, shown.gender)); // set by another client
    gender.value = shown.gender;
    $('#person-tags').value = tagsOf(p).join(', ');
    $('#person-form').hidden = $('#faces-form').hidden = false;
}

function showFaces(faces) {
    $('#person-faces tbody').replaceChildren(
        ...faces.map((f) => {
            const remove = el('button', { type: 'button', className: 'danger' }, 'Remove');
            remove.setAttribute('aria-label', `Remove face #${f.id}`);
            remove.addEventListener('click', () => removeFace(f));
            const added = when(f.created_at);
            return row([String(f.id), f.source || '—', added, fixed(f.quality), remove]);
        }),
    );
}

// Reads person `id` and their faces again after a face was added or removed, then says `done`;
// the edit form keeps what is typed in it.  Nothing is shown when another person's page was
// opened meanwhile.
async function reloadFaces(id, done) {
    try {
        const [p, f] = await Promise.all([
            api('GET', `/v1/persons/${id}`),
            api('GET', `/v1/persons/${id}/faces`),
        ]);
        if (person?.id !== id) return;
        showProfile(p);
        showFaces(f.faces);
        say('person', done, 'ok');
    } catch (e) {
        if (person?.id === id) fail('person', e, `${done} Reading the faces again failed`);
    }
}

async function removeFace(f) {
    const id = person.id;
    const who = displayName(person);
    if (!confirm(`Remove face #${f.id} of ${who}? It will no longer be used to recognise them.`))
        return;
    say('person', `Removing face #${f.id}…`);
    try {
        await api('DELETE', `/v1/persons/${id}/faces/${f.id}`);
    } catch (e) {
        return fail('person', e, `Removing face #${f.id}`);
    }
    await reloadFaces(id, `Face #${f.id} was removed.`);
}

$('#faces-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const id = person.id;
    const files = [...$('#faces-files').files];
    const form = new FormData();
    for (const f of files) form.append('file', f, f.name);
    const list = $('#faces-refused');
    list.replaceChildren();
    say('person', `Adding ${files.length} photo(s)…`);
    let r;
    try {
        r = await api('POST', `/v1/persons/${id}/faces`, form);
    } catch (e) {
        fail('person', e, 'Adding photos');
        list.append(...refusals(files, e.error.refused || []));
        return;
    }
    ev.target.reset();
    list.append(...refusals(files, r.refused), ...duplicateWarning(r.possible_duplicate_of));
    const refused = r.refused.length ? ` ${r.refused.length} photo(s) refused.` : '';
    await reloadFaces(id, `Added ${r.faces_added} face(s).${refused}`);
});

// The attributes to send when the form changed age, gender or tags, else undefined.  PATCH
// replaces the whole object, so the other members are kept; a field the user set is no longer
// listed as estimated.
function attributesChange() {
    const attrs = { ...attributes(person) };
    const set = [];
    const age = $('#person-age').value;
    if (age !== shown.age) {
        if (age === '') delete attrs.age;
        else attrs.age = Number(age);
        set.push('age');
    }
    const gender = $('#person-gender').value;
    if (gender !== shown.gender) {
        if (gender === '') delete attrs.gender;
        else attrs.gender = gender;
        set.push('gender');
    }
    const tags = [
        ...new Set(
            $('#person-tags')
                .value.split(',')
                .map((t) => t.trim())
                .filter(Boolean),
        ),
    ];
    if (tags.join(',') !== shown.tags) {
        if (tags.length) attrs.tags = tags;
        else delete attrs.tags;
    } else if (!set.length) {
        return undefined;
    }
    if (Array.isArray(attrs.estimated)) {
        attrs.estimated = attrs.estimated.filter((x) => !set.includes(x));
        if (!attrs.estimated.length) delete attrs.estimated;
    }
    return Object.keys(attrs).length ? attrs : null;
}

$('#person-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const change = {
        name: $('#person-name').value.trim() || null,
        description: $('#person-desc').value.trim() || null,
        kind: $('#person-kind').value,
    };
    const consent = $('#person-consent').value;
    const purpose = $('#person-purpose').value.trim() || null;
    if (consent !== person.consent.status) change.consent = consent;
    if (purpose !== (person.consent.purpose || null)) change.consent_purpose = purpose;
    const attrs = attributesChange();
    if (attrs !== undefined) change.attributes = attrs;
    say('person', 'Saving…');
    try {
        const r = await api('PATCH', `/v1/persons/${person.id}`, change);
        showPerson(r);
        say('person', 'Saved.', 'ok');
    } catch (e) {
        fail('person', e);
    }
});

$('#person-delete').addEventListener('click', async () => {
    const who = displayName(person);
    if (!confirm(`Delete ${who} with all their faces and visits? This cannot be undone.`)) return;
    try {
        await api('DELETE', `/v1/persons/${person.id}`);
        go('#/people', `${who} was deleted.`);
    } catch (e) {
        fail('person', e);
    }
});

// ---- enrol --------------------------------------------------------------------------------

$('#enrol-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const files = [...$('#enrol-files').files];
    const form = new FormData();
    form.append('name', $('#enrol-name').value.trim());
    const description = $('#enrol-desc').value.trim();
    if (description) form.append('description', description);
    form.append('kind', $('#enrol-kind').value);
    form.append('consent', 'given');
    form.append('consent_purpose', $('#enrol-purpose').value.trim());
    for (const f of files) form.append('file', f, f.name);
    const list = $('#enrol-refused');
    list.replaceChildren();
    say('enrol', 'Enrolling…');
    try {
        const r = await api('POST', '/v1/persons', form);
        const p = r.person;
        say('enrol', `Enrolled ${p.name} (#${p.id}) with ${r.faces_added} face(s).`, 'ok');
        list.append(...refusals(files, r.refused), ...duplicateWarning(r.possible_duplicate_of));
        ev.target.reset();
    } catch (e) {
        fail('enrol', e);
        list.append(...refusals(files, e.error.refused || []));
    }
});

// ---- keys ---------------------------------------------------------------------------------

loaders.keys = async () => {
    try {
        const r = await api('GET', '/v1/keys');
        $('#keys-table tbody').replaceChildren(
            ...r.keys.map((k) => {
                const revoke = el(
                    'button',
                    { type: 'button', className: 'danger', disabled: k.revoked },
                    'Revoke',
                );
                revoke.addEventListener('click', () => revokeKey(k));
                return row([
                    k.name,
                    k.role,
                    when(k.created_at),
                    when(k.last_used),
                    k.revoked ? 'revoked' : 'active',
                    revoke,
                ]);
            }),
        );
    } catch (e) {
        fail('keys', e);
    }
};

async function revokeKey(k) {
    if (!confirm(`Revoke the key "${k.name}"? Clients using it will be refused.`)) return;
    try {
        await api('DELETE', `/v1/keys/${k.id}`);
        say('keys', `The key "${k.name}" was revoked.`, 'ok');
        loaders.keys();
    } catch (e) {
        fail('keys', e);
    }
}

$('#keys-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: $('#key-name').value.trim(), role: $('#key-role').value };
    try {
        const r = await api('POST', '/v1/keys', body);
        $('#key-value').value = r.key;
        $('#key-new').hidden = false;
        $('#key-copy').focus();
        say('keys', `Key "${body.name}" (${r.role}) created.`, 'ok');
        ev.target.reset();
        loaders.keys();
    } catch (e) {
        fail('keys', e);
    }
});

$('#key-copy').addEventListener('click', async () => {
    const input = $('#key-value');
    try {
        await navigator.clipboard.writeText(input.value);
        say('keys', 'Copied to the clipboard.', 'ok');
    } catch {
        input.select();
        say('keys', 'Copying is not allowed here: the key is selected, press Ctrl+C.');
    }
});

window.addEventListener('hashchange', route);
route();
