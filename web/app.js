// app.js - the visage web UI: hash routes, the API client, and one block per page.
//
// The API key lives in sessionStorage (gone when the tab closes) and goes with every request as
// "Authorization: Bearer <key>".  Each page has one message line (role="alert") where every
// outcome is said in words: the API's JSON error message, prefixed by what 401 (bad key), 403
// (role not allowed) and 429 (rate limited) mean.  A 401 after log-in (key revoked) logs out.
// Everything the server returns is put on the page with textContent, never parsed as HTML.
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
    const what = {
        401: 'The API key was refused',
        403: "This key's role is not allowed to do that",
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

async function listPeople() {
    const q = new URLSearchParams({ limit: PAGE_SIZE });
    const name = $('#people-name').value.trim();
    const kind = $('#people-kind').value;
    if (name) q.set('name', name);
    if (kind) q.set('kind', kind);
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

loaders.person = async (id) => {
    $('#person-form').hidden = true;
    $('#person-profile').replaceChildren();
    $('#person-visits tbody').replaceChildren();
    say('person', 'Loading…');
    try {
        const [r, v] = await Promise.all([
            api('GET', `/v1/persons/${id}`),
            api('GET', `/v1/persons/${id}/visits`),
        ]);
        showPerson(r);
        $('#person-visits tbody').replaceChildren(
            ...v.visits.map((x) => row([when(x.at), x.camera || '—', fixed(x.score)])),
        );
        const more = v.next_offset ? `The latest ${v.visits.length} visits are listed.` : '';
        say('person', v.visits.length ? more : 'No visits recorded yet.');
    } catch (e) {
        fail('person', e);
    }
};

function showPerson(p) {
    person = p;
    $('#page-person h2').textContent = displayName(p);
    $('#person-profile').replaceChildren(
        ...definitions([
            ['Id', String(p.id)],
            ['Kind', p.kind],
            ['Description', p.description || '—'],
            ['Consent', [p.consent.status, p.consent.purpose].filter(Boolean).join(': ')],
            ['Faces', String(p.faces)],
            ['Visits', String(p.visits)],
            ['First seen', when(p.first_seen)],
            ['Last seen', when(p.last_seen)],
            ['Created', when(p.created_at)],
        ]),
    );
    $('#person-name').value = p.name || '';
    $('#person-desc').value = p.description || '';
    $('#person-kind').value = p.kind;
    $('#person-form').hidden = false;
}

$('#person-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const change = {
        name: $('#person-name').value.trim() || null,
        description: $('#person-desc').value.trim() || null,
        kind: $('#person-kind').value,
    };
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
    const refusals = (refused) =>
        refused.map((x) =>
            el('li', {}, `Refused ${files[x.file]?.name ?? `photo ${x.file + 1}`}: ${x.reason}`),
        );
    try {
        const r = await api('POST', '/v1/persons', form);
        const p = r.person;
        say('enrol', `Enrolled ${p.name} (#${p.id}) with ${r.faces_added} face(s).`, 'ok');
        list.append(...refusals(r.refused));
        if (r.possible_duplicate_of !== null) {
            list.append(
                el(
                    'li',
                    { className: 'warn' },
                    'Possible duplicate of ',
                    el(
                        'a',
                        { href: `#/people/${r.possible_duplicate_of}` },
                        `person #${r.possible_duplicate_of}`,
                    ),
                    ': check they are not the same person.',
                ),
            );
        }
        ev.target.reset();
    } catch (e) {
        fail('enrol', e);
        list.append(...refusals(e.error.refused || []));
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
