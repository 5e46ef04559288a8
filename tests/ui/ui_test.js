// ui_test.js - the browser journey through the web UI, against a running `visage serve`.
//
//   VISAGE_URL=http://127.0.0.1:PORT VISAGE_KEY=<admin key> node tests/ui/ui_test.js
//
// Run from the repository root (tests/ui/run.sh starts the server and sets both variables).
// Drives Debian's chromium (/usr/bin/chromium) with playwright-core, as a user would: log in
// (a wrong key first), enrol the eight people of ../shared/data/bbt from one crop each on the
// Enrol page, recognise the group photos bbt1..bbt5 on the Recognize page, a photo of strangers
// twice (anonymous visitors), a webcam snapshot (chromium's fake camera) and a dropped photo,
// upload a file that is not an image, page through, search, edit and delete people, set a person's
// age and tags, filter people by gender, age, tag and creation day, add and remove a person's
// faces (and be refused without consent, without a face, with a file that is not an image),
// create, copy, use and revoke a key, and look at the page on a phone-sized screen.  Every check
// prints "ok" or "FAIL" with what the page showed; screenshots go to build/ui-screens/.  Exit
// status 0 when every check passed, 1 otherwise.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const BASE = process.env.VISAGE_URL;
const ADMIN_KEY = process.env.VISAGE_KEY;
const DATA = '../shared/data/bbt';
const SCREENS = 'build/ui-screens';
const PEOPLE = ['amy', 'bernadette', 'howard', 'leonard', 'penny', 'raj', 'sheldon', 'stuart'];
const NAMES = PEOPLE.map((p) => p[0].toUpperCase() + p.slice(1));
const UNKNOWN = /^unknown( visitor #\d+)?$/;

let failures = 0;

function check(ok, what) {
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) failures++;
}

const shot = (page, name) =>
    page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true });
const message = (page, id) => page.locator(`#page-${id} .msg`);

// Waits until the page's message line no longer says that work is in progress ("…").
async function settled(page, id) {
    await page.waitForFunction(
        (sel) => !document.querySelector(sel).textContent.endsWith('…'),
        `#page-${id} .msg`,
    );
    return (await message(page, id).textContent()).trim();
}

// Does `action` and returns the response of the API call to `route` it caused.
async function answer(page, method, route, action) {
    const [res] = await Promise.all([
        page.waitForResponse(
            (r) => r.request().method() === method && new URL(r.url()).pathname === route,
        ),
        action(),
    ]);
    return res;
}

async function nav(page, label) {
    await page.getByRole('link', { name: label, exact: true }).click();
}

async function login(page, key) {
    await page.fill('#login-key', key);
    return answer(page, 'GET', '/v1/keys', () => page.click('#login-form button[type=submit]'));
}

async function logout(page) {
    await page.click('#logout');
    await page.locator('#page-login').waitFor();
}

// Fills the Enrol page with one photo (a path or a {name, mimeType, buffer}) and submits it.
async function enrolPhoto(page, name, file) {
    await nav(page, 'Enrol');
    await page.fill('#enrol-name', name);
    await page.fill('#enrol-desc', 'enrolled by the browser test');
    await page.setInputFiles('#enrol-files', file);
    await page.check('#enrol-consent');
    await page.fill('#enrol-purpose', 'recognition at the door');
    const res = await answer(page, 'POST', '/v1/persons', () =>
        page.click('#enrol-form button[type=submit]'),
    );
    return { res, text: await settled(page, 'enrol') };
}

async function testLogin(page) {
    await page.goto(`${BASE}/`);
    await page.locator('#page-login').waitFor();
    const res = await login(page, 'not-a-valid-key');
    const text = await settled(page, 'login');
    check(
        res.status() === 401 &&
            /refused/.test(text) &&
            text.includes((await res.json()).error.message),
        `a wrong key is refused with the API's message: "${text}"`,
    );
    await shot(page, 'login-wrong-key');
    await login(page, ADMIN_KEY);
    await page.locator('#page-recognize').waitFor();
    check(
        await page.locator('#nav-keys').isVisible(),
        'the admin key logs in and sees the Keys page',
    );
}

async function testEnrol(page) {
    let enrolled = 0;
    for (let i = 0; i < PEOPLE.length; i++) {
        const { res, text } = await enrolPhoto(
            page,
            NAMES[i],
            path.join(DATA, PEOPLE[i], `${PEOPLE[i]}1.png`),
        );
        const r = await res.json();
        const ok =
            res.status() === 201 && r.faces_added === 1 && text.startsWith(`Enrolled ${NAMES[i]}`);
        check(ok, `enrol ${NAMES[i]}: "${text}"`);
        enrolled += ok;
        if (i === 0) await shot(page, 'enrol');
    }
    return enrolled;
}

// Uploads bbt1..bbt5; returns how many cards the page showed per decision.
async function testRecognize(page) {
    const seen = { known: 0, possible: 0, unknown: 0 };
    for (let i = 1; i <= 5; i++) {
        await nav(page, 'Recognize');
        const file = path.join(DATA, `bbt${i}.jpg`);
        const res = await answer(page, 'POST', '/v1/recognize', () =>
            page.setInputFiles('#rec-file', file),
        );
        const r = await res.json();
        const text = await settled(page, 'recognize');
        const cards = await page
            .locator('#rec-cards .face')
            .evaluateAll((els) =>
                els.map((e) => ({ name: e.dataset.name, decision: e.dataset.decision })),
            );
        const boxes = Number(await page.getAttribute('#rec-canvas', 'data-boxes'));
        const drawn = await page.evaluate(() => {
            const c = document.querySelector('#rec-canvas');
            return (
                c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data[3] === 255
            );
        });
        // A name is an enrolled person's or an unknown one; an unknown face has no name.
        const strange = cards.filter(
            (c) => !(UNKNOWN.test(c.name) || (NAMES.includes(c.name) && c.decision !== 'unknown')),
        );
        check(
            res.status() === 200 && r.faces.length > 0 && drawn,
            `bbt${i}.jpg: photo drawn, ${r.faces.length} face(s) found: "${text}"`,
        );
        check(
            cards.length === boxes && boxes === r.faces.length,
            `bbt${i}.jpg: ${cards.length} cards for ${boxes} boxes ` +
                `(${r.faces.length} faces in the answer)`,
        );
        check(
            strange.length === 0,
            `bbt${i}.jpg: names shown: ${cards.map((c) => `${c.name} (${c.decision})`).join(', ')}`,
        );
        for (const c of cards) seen[c.decision]++;
        await shot(page, `recognize-bbt${i}`);
    }
    return seen;
}

// A photo of strangers, twice: its faces become anonymous visitors, then the same visitors again.
async function testStrangers(page) {
    const file = '../shared/data/group/10.jpg';
    const runs = [];
    for (let n = 0; n < 2; n++) {
        await answer(page, 'POST', '/v1/recognize', () => page.setInputFiles('#rec-file', file));
        await settled(page, 'recognize');
        runs.push(
            await page
                .locator('#rec-cards .face')
                .evaluateAll((els) => els.map((e) => e.dataset.name)),
        );
    }
    const visitors = runs[0].filter((n) => /^unknown visitor #/.test(n));
    const again = visitors.filter((n) => runs[1].includes(n));
    check(
        visitors.length > 0 && again.length === visitors.length,
        `group/10.jpg: ${runs[0].length} faces, ${visitors.length} new unknown visitors, ` +
            `${again.length} of them shown as the same visitors the second time`,
    );
    await shot(page, 'recognize-strangers');
}

// The webcam (chromium's fake camera, a test pattern): a snapshot goes through recognition.
async function testCamera(page) {
    await page.click('#cam-start');
    await page.waitForFunction(() => document.querySelector('#cam').videoWidth > 0);
    const res = await answer(page, 'POST', '/v1/recognize', () => page.click('#cam-snap'));
    const text = await settled(page, 'recognize');
    const boxes = Number(await page.getAttribute('#rec-canvas', 'data-boxes'));
    const cards = await page.locator('#rec-cards .face').count();
    check(
        res.status() === 200 &&
            text.startsWith('snapshot.jpg:') &&
            boxes === cards &&
            cards === (await res.json()).faces.length,
        `a webcam snapshot is recognised: "${text}"`,
    );
    await shot(page, 'recognize-camera');
    await page.click('#cam-stop');
}

// A photo dropped on the drop zone (a DataTransfer made in the page, as a drag from the desktop).
async function testDrop(page) {
    const b64 = fs.readFileSync(path.join(DATA, 'penny', 'penny2.png')).toString('base64');
    const dt = await page.evaluateHandle((data) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const t = new DataTransfer();
        t.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
        return t;
    }, b64);
    const res = await answer(page, 'POST', '/v1/recognize', () =>
        page.dispatchEvent('#drop', 'drop', { dataTransfer: dt }),
    );
    const text = await settled(page, 'recognize');
    const names = await page
        .locator('#rec-cards .face')
        .evaluateAll((els) => els.map((e) => e.dataset.name));
    check(
        res.status() === 200 && text.startsWith('dropped.png:') && names.length === 1,
        `a dropped photo is recognised: "${text}" (${names.join(', ')})`,
    );
}

const NOT_IMAGE = {
    name: 'notes.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('not a photo\n'),
};

// A text file on the Recognize page, then as the only photo on the Enrol page.
async function testBadUpload(page) {
    await nav(page, 'Recognize');
    const res = await answer(page, 'POST', '/v1/recognize', () =>
        page.setInputFiles('#rec-file', NOT_IMAGE),
    );
    const text = await settled(page, 'recognize');
    const r = await res.json();
    const cls = await message(page, 'recognize').getAttribute('class');
    check(
        res.status() >= 400 &&
            res.status() < 500 &&
            text.includes(r.error.message) &&
            /error/.test(cls) &&
            (await page.locator('#rec-result').isHidden()),
        `a text file is refused with a clear message (${res.status()}): "${text}"`,
    );
    await shot(page, 'recognize-not-an-image');

    const enrol = await enrolPhoto(page, 'Nobody', NOT_IMAGE);
    const refused = await page.locator('#enrol-refused li').allTextContents();
    check(
        enrol.res.status() === 400 &&
            refused.length === 1 &&
            refused[0].startsWith('Refused notes.txt:'),
        `enrolling from a text file is refused: "${enrol.text}" ${JSON.stringify(refused)}`,
    );
    await shot(page, 'enrol-not-an-image');
}

// Calls the API as the admin (to know what the page should show); resolves to the parsed JSON.
async function apiGet(route) {
    const headers = { Authorization: `Bearer ${ADMIN_KEY}` };
    const res = await fetch(`${BASE}${route}`, { headers });
    if (!res.ok) throw new Error(`GET ${route}: ${res.status} ${await res.text()}`);
    return res.json();
}

// The name the UI gives a person (as displayName in web/app.js).
const shownName = (p) =>
    p.kind === 'anonymous' || !p.name ? `unknown visitor #${p.id}` : p.name;

async function personNamed(name) {
    const r = await apiGet(`/v1/persons?${new URLSearchParams({ name, limit: 1000 })}`);
    return r.persons.find((p) => p.name === name);
}

// Fills the People page's filters ({name, kind, gender, ageMin, ageMax, tag, from, to}; every one
// not given is emptied) and searches.  Returns the names listed and the query the page sent.
async function filterPeople(page, f = {}) {
    await nav(page, 'People');
    await settled(page, 'people');
    await page.fill('#people-name', f.name ?? '');
    await page.selectOption('#people-kind', f.kind ?? '');
    await page.selectOption('#people-gender', f.gender ?? '');
    await page.fill('#people-age-min', String(f.ageMin ?? ''));
    await page.fill('#people-age-max', String(f.ageMax ?? ''));
    await page.fill('#people-tag', f.tag ?? '');
    await page.fill('#people-from', f.from ?? '');
    await page.fill('#people-to', f.to ?? '');
    const res = await answer(page, 'GET', '/v1/persons', () =>
        page.click('#people-form button[type=submit]'),
    );
    await settled(page, 'people');
    return { names: await listed(page), query: new URL(res.url()).searchParams };
}

// Searches the People page by name and kind; returns the names listed.
async function search(page, name, kind) {
    return (await filterPeople(page, { name, kind })).names;
}

const listed = (page) => page.locator('#people-table tbody tr td:first-child').allTextContents();
const column = (page, n) =>
    page.locator(`#people-table tbody tr td:nth-child(${n})`).allTextContents();

// Turns the People page's pages with `button` ('next' or 'prev'); returns the names listed.
async function turn(page, button) {
    await answer(page, 'GET', '/v1/persons', () => page.click(`#people-${button}`));
    await settled(page, 'people');
    return listed(page);
}

async function testPeople(page) {
    const customers = await search(page, '', 'customer');
    check(
        NAMES.every((n) => customers.includes(n)),
        `People lists every enrolled customer: ${customers.join(', ')}`,
    );
    await shot(page, 'people');

    const pages = [await search(page, '', '')];
    while (await page.isEnabled('#people-next')) pages.push(await turn(page, 'next'));
    const everyone = pages.flat();
    check(
        pages.length > 1 &&
            new Set(everyone).size === everyone.length &&
            NAMES.every((n) => everyone.includes(n)),
        `People pages through everyone: ${pages.map((p) => p.length).join(' + ')} rows, ` +
            'no one twice',
    );
    const back = await turn(page, 'prev');
    check(back.join() === pages.at(-2).join(), 'Previous page shows the page before again');
    const pennies = await search(page, 'Penny', '');
    check(
        pennies.length === 1 && pennies[0] === 'Penny',
        `searching "Penny" finds ${pennies.join(', ')}`,
    );

    await page.getByRole('link', { name: 'Penny', exact: true }).click();
    await settled(page, 'person');
    // The heading is filled in when the person's record arrives: wait for it rather than race it.
    await page
        .waitForFunction(() => document.querySelector('#page-person h2')?.textContent === 'Penny', null, {
            timeout: 10000,
        })
        .catch(() => {});
    const heading = await page.textContent('#page-person h2');
    const visits = await page.locator('#person-visits tbody tr').count();
    check(heading === 'Penny', `Penny's page opens (${visits} visit(s) listed)`);
    await page.fill('#person-desc', 'edited by the browser test');
    await answer(page, 'PATCH', new URL(page.url()).hash.replace('#/people', '/v1/persons'), () =>
        page.click('#person-form button[type=submit]'),
    );
    const saved = await settled(page, 'person');
    const profile = await page.textContent('#person-profile');
    check(
        saved === 'Saved.' && profile.includes('edited by the browser test'),
        `editing Penny's description: "${saved}"`,
    );
    await shot(page, 'person');

    await search(page, 'Stuart', '');
    await page.getByRole('link', { name: 'Stuart', exact: true }).click();
    await settled(page, 'person');
    page.once('dialog', (d) => d.accept());
    await page.click('#person-delete');
    await page.locator('#page-people').waitFor();
    const gone = await settled(page, 'people');
    const left = await search(page, 'Stuart', '');
    check(
        /deleted/.test(gone) && left.length === 0,
        `deleting Stuart: "${gone}", ${left.length} left`,
    );
}

// Opens the page of the person the People page lists as `name` (with the filters `f`, by
// default a search for the name).
async function openPerson(page, name, f = { name }) {
    await filterPeople(page, f);
    await page.getByRole('link', { name, exact: true }).click();
    await page.waitForFunction(
        (n) => document.querySelector('#page-person h2')?.textContent === n,
        name,
        { timeout: 10000 },
    );
    return settled(page, 'person');
}

// The person page's profile as {term: text}.
const profile = (page) =>
    page.evaluate(() =>
        Object.fromEntries(
            [...document.querySelectorAll('#person-profile dt')].map((dt) => [
                dt.textContent,
                dt.nextElementSibling.textContent,
            ]),
        ),
    );

// "YYYY-MM-DD" of the local day of `ms` (what a date input holds), `days` later.
function day(ms, days = 0) {
    const d = new Date(ms);
    d.setDate(d.getDate() + days);
    const two = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

// Penny's page shows her age and gender (estimated at enrolment when the attribute model ran),
// then the edit form sets her tags and her age: PATCH sends the whole attributes object, keeps
// gender (still marked estimated) and no longer marks the age as estimated.
async function testAttributes(page) {
    const before = await personNamed('Penny');
    await openPerson(page, 'Penny');
    const a = before.attributes || {};
    const est = a.estimated || [];
    const shown = await profile(page);
    const age =
        typeof a.age !== 'number'
            ? '—'
            : `${Math.round(a.age)}${est.includes('age') ? ' (estimated)' : ''}`;
    const gender = !a.gender ? '—' : `${a.gender}${est.includes('gender') ? ' (estimated)' : ''}`;
    check(
        shown.Age === age && shown.Gender === gender && shown.Tags === '—',
        `Penny's profile shows her attributes ${JSON.stringify(a)}: age "${shown.Age}", ` +
            `gender "${shown.Gender}", tags "${shown.Tags}"`,
    );

    await page.fill('#person-tags', ' vip, browser-test ,vip');
    await page.fill('#person-age', '30');
    if (!a.gender) await page.selectOption('#person-gender', 'female'); // no attribute model
    const res = await answer(page, 'PATCH', `/v1/persons/${before.id}`, () =>
        page.click('#person-form button[type=submit]'),
    );
    const saved = await settled(page, 'person');
    const sent = JSON.parse(res.request().postData()).attributes;
    const after = (await personNamed('Penny')).attributes;
    const shownAfter = await profile(page);
    const genderAfter = a.gender || 'female';
    const estAfter = est.filter((x) => x !== 'age' && (a.gender || x !== 'gender'));
    check(
        saved === 'Saved.' &&
            res.status() === 200 &&
            JSON.stringify(sent?.tags) === '["vip","browser-test"]' &&
            after.age === 30 &&
            after.gender === genderAfter &&
            JSON.stringify(after.tags) === '["vip","browser-test"]' &&
            JSON.stringify(after.estimated || []) === JSON.stringify(estAfter),
        `setting Penny's tags and age: "${saved}", attributes now ${JSON.stringify(after)}`,
    );
    check(
        shownAfter.Age === '30' &&
            shownAfter.Tags === 'vip, browser-test' &&
            shownAfter.Gender.startsWith(genderAfter) &&
            shownAfter.Description === 'edited by the browser test',
        `Penny's profile after the edit: age "${shownAfter.Age}", gender "${shownAfter.Gender}", ` +
            `tags "${shownAfter.Tags}"`,
    );
    await shot(page, 'person-attributes');

    // Saving again without touching age, gender or tags leaves the attributes alone.
    const again = await answer(page, 'PATCH', `/v1/persons/${before.id}`, () =>
        page.click('#person-form button[type=submit]'),
    );
    await settled(page, 'person');
    check(
        !('attributes' in JSON.parse(again.request().postData())),
        'saving without changing age, gender or tags does not send the attributes',
    );
}

// Filters the People page by gender (paging through every page), age, tag and creation day;
// the API says what each filter should list.
async function testFilters(page) {
    const penny = await personNamed('Penny');
    // Every page of each gender (in id order, as the API lists them), Penny among hers only.
    let turned = 0; // pages turned with a filter set
    for (const gender of ['female', 'male']) {
        const expected = (await apiGet(`/v1/persons?gender=${gender}&limit=1000`)).persons;
        const first = await filterPeople(page, { gender });
        const pages = [first.names];
        const cells = [await column(page, 4)];
        if (gender === penny.attributes.gender) await shot(page, 'people-gender');
        while (await page.isEnabled('#people-next')) {
            pages.push(await turn(page, 'next'));
            cells.push(await column(page, 4));
            turned++;
        }
        const all = pages.flat();
        const right = new RegExp(`^${gender}( \\(est\\.\\))?$`);
        check(
            first.query.get('gender') === gender &&
                all.join() === expected.map(shownName).join() &&
                cells.flat().every((c) => right.test(c)) &&
                all.includes('Penny') === (gender === penny.attributes.gender),
            `gender ${gender}: ${pages.map((p) => p.length).join(' + ')} rows (the API lists ` +
                `${expected.length}), genders shown: ${[...new Set(cells.flat())].join(', ')}`,
        );
    }
    check(turned > 0, `Next page keeps the gender filter (${turned} page(s) turned)`);

    const tagged = await filterPeople(page, { tag: 'browser-test' });
    check(
        tagged.query.get('tag') === 'browser-test' && tagged.names.join() === 'Penny',
        `tag "browser-test" finds ${tagged.names.join(', ') || 'no one'}`,
    );
    await shot(page, 'people-tag');

    const aged = await filterPeople(page, { ageMin: 30, ageMax: 30 });
    const ages = await column(page, 3);
    check(
        aged.query.get('age_min') === '30' &&
            aged.query.get('age_max') === '30' &&
            aged.names.includes('Penny') &&
            ages.every((x) => x === '30' || x === '≈30'),
        `age 30 to 30 finds ${aged.names.join(', ')} (ages ${[...new Set(ages)].join(', ')})`,
    );

    const created = day(penny.created_at);
    const sameDay = await filterPeople(page, { from: created, to: created, kind: 'customer' });
    const from = Number(sameDay.query.get('created_from'));
    const to = Number(sameDay.query.get('created_to'));
    const [y, m, d] = created.split('-').map(Number);
    check(
        from === new Date(y, m - 1, d).getTime() &&
            to === new Date(y, m - 1, d + 1).getTime() &&
            from <= penny.created_at &&
            penny.created_at < to &&
            sameDay.names.includes('Penny'),
        `created on ${created} (${from} to ${to}) finds ${sameDay.names.join(', ')}`,
    );
    const before = await filterPeople(page, { to: day(penny.created_at, -1) });
    check(
        !before.names.includes('Penny'),
        `created up to the day before: ${before.names.length} rows, Penny not among them`,
    );
    await filterPeople(page); // no filters left for the tests that follow
}

// A person's Faces table: 1 face after enrolment, a second photo added with "Add photos", one
// removed again; photos without a face, files that are not images and a person without consent
// are refused with a clear message.
async function testFaces(page) {
    const howard = await personNamed('Howard');
    const facesRoute = `/v1/persons/${howard.id}/faces`;
    await openPerson(page, 'Howard');
    const rows = () => page.locator('#person-faces tbody tr').count();
    const stored = async () => (await apiGet(facesRoute)).faces.length;
    check(
        (await rows()) === 1 && (await stored()) === 1,
        `Howard's page lists ${await rows()} face(s)`,
    );

    const add = async (file) => {
        await page.setInputFiles('#faces-files', file);
        const res = await answer(page, 'POST', facesRoute, () =>
            page.getByRole('button', { name: 'Add photos', exact: true }).click(),
        );
        return { res, text: await settled(page, 'person') };
    };
    const added = await add(path.join(DATA, 'howard', 'howard2.png'));
    const r = await added.res.json();
    const shown = await profile(page);
    check(
        added.res.status() === 201 &&
            r.faces_added === 1 &&
            added.text.startsWith('Added 1 face(s).') &&
            (await rows()) === 2 &&
            (await stored()) === 2 &&
            shown.Faces === '2',
        `adding howard2.png: "${added.text}", ${await rows()} faces listed`,
    );
    await shot(page, 'person-faces-added');

    // A photo without a face (a plain grey square drawn in the page), then a text file.
    const blank = await page.evaluate(() => {
        const c = Object.assign(document.createElement('canvas'), { width: 320, height: 320 });
        const ctx = c.getContext('2d');
        ctx.fillStyle = '#888';
        ctx.fillRect(0, 0, 320, 320);
        return c.toDataURL('image/png').split(',')[1];
    });
    const noFace = await add({
        name: 'blank.png',
        mimeType: 'image/png',
        buffer: Buffer.from(blank, 'base64'),
    });
    const noFaceList = await page.locator('#faces-refused li').allTextContents();
    const noFaceError = (await noFace.res.json()).error;
    check(
        noFace.res.status() === 422 &&
            noFaceError.code === 'no_face' &&
            noFace.text.includes(noFaceError.message) &&
            /error/.test(await message(page, 'person').getAttribute('class')) &&
            noFaceList.length === 1 &&
            noFaceList[0].startsWith('Refused blank.png:') &&
            (await rows()) === 2,
        `a photo without a face is refused: "${noFace.text}" ${JSON.stringify(noFaceList)}`,
    );
    await shot(page, 'person-faces-no-face');
    const text = await add(NOT_IMAGE);
    const textList = await page.locator('#faces-refused li').allTextContents();
    check(
        text.res.status() === 400 &&
            text.text.includes((await text.res.json()).error.message) &&
            textList.length === 1 &&
            textList[0].startsWith('Refused notes.txt:'),
        `a text file is refused: "${text.text}" ${JSON.stringify(textList)}`,
    );

    const first = page.locator('#person-faces tbody tr').first();
    const faceId = await first.locator('td').first().textContent();
    page.once('dialog', (d) => d.accept());
    const removed = await answer(page, 'DELETE', `${facesRoute}/${faceId}`, () =>
        first.getByRole('button', { name: 'Remove' }).click(),
    );
    const removedText = await settled(page, 'person');
    const ids = await page.locator('#person-faces tbody tr td:first-child').allTextContents();
    check(
        removed.status() === 200 &&
            removedText === `Face #${faceId} was removed.` &&
            ids.length === 1 &&
            !ids.includes(faceId) &&
            (await stored()) === 1 &&
            (await profile(page)).Faces === '1',
        `removing face #${faceId}: "${removedText}", ${ids.length} face(s) listed`,
    );
    await shot(page, 'person-faces-removed');

    // An anonymous visitor has not given consent: no photo of them may be stored.
    const visitor = (await apiGet('/v1/persons?kind=anonymous&limit=1')).persons[0];
    if (!visitor) return check(false, 'an anonymous visitor exists to try adding photos to');
    await openPerson(page, shownName(visitor), { kind: 'anonymous' });
    const refused = await answer(page, 'POST', `/v1/persons/${visitor.id}/faces`, async () => {
        await page.setInputFiles('#faces-files', path.join(DATA, 'howard', 'howard3.png'));
        await page.getByRole('button', { name: 'Add photos', exact: true }).click();
    });
    const consentText = await settled(page, 'person');
    check(
        refused.status() === 409 &&
            (await refused.json()).error.code === 'consent_required' &&
            /consent must be given first/.test(consentText),
        `adding a photo of a visitor without consent is refused: "${consentText}"`,
    );
    await shot(page, 'person-faces-no-consent');

    // Consent recorded through the edit form, then the photo is accepted.
    await page.selectOption('#person-consent', 'given');
    await page.fill('#person-purpose', 'loyalty programme');
    const saved = await answer(page, 'PATCH', `/v1/persons/${visitor.id}`, () =>
        page.getByRole('button', { name: 'Save' }).click(),
    );
    await settled(page, 'person');
    const after = await apiGet(`/v1/persons/${visitor.id}`);
    check(
        saved.status() === 200 &&
            after.consent.status === 'given' &&
            after.consent.purpose === 'loyalty programme' &&
            after.consent.given_at > 0,
        `consent given through the edit form: ${JSON.stringify(after.consent)}`,
    );
    const accepted = await answer(page, 'POST', `/v1/persons/${visitor.id}/faces`, async () => {
        await page.setInputFiles('#faces-files', path.join(DATA, 'howard', 'howard3.png'));
        await page.getByRole('button', { name: 'Add photos', exact: true }).click();
    });
    await settled(page, 'person');
    const faces = (await apiGet(`/v1/persons/${visitor.id}/faces`)).faces.length;
    check(
        accepted.status() === 201 && faces === after.faces + 1,
        `with consent the photo is stored: ${accepted.status()}, ${faces} face(s)`,
    );
    await shot(page, 'person-consent-given');
}

// Creates a viewer key, uses it (enrolling is refused with 403), revokes it, and checks that it
// no longer logs in.
async function testKeys(page) {
    await nav(page, 'Keys');
    await page.fill('#key-name', 'browser test viewer');
    await page.selectOption('#key-role', 'viewer');
    const res = await answer(page, 'POST', '/v1/keys', () =>
        page.click('#keys-form button[type=submit]'),
    );
    const key = await page.inputValue('#key-value');
    await page.click('#key-copy');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(
        res.status() === 201 && key === (await res.json()).key && copied === key,
        `a new key is shown once, and its Copy button copies it (${res.status()}, ` +
            `key ${key ? 'shown' : 'missing'}, clipboard ${copied === key ? 'equal' : 'differs'})`,
    );
    await page.locator('#keys-table tbody tr', { hasText: 'browser test viewer' }).waitFor();
    await shot(page, 'keys');

    await logout(page);
    await login(page, key);
    await page.locator('#page-recognize').waitFor();
    check(await page.locator('#nav-keys').isHidden(), 'a viewer key logs in without the Keys page');
    const refused = await enrolPhoto(page, 'Nobody', path.join(DATA, 'amy', 'amy2.png'));
    check(
        refused.res.status() === 403 && /not allowed/.test(refused.text),
        `a viewer enrolling is refused: "${refused.text}"`,
    );
    await shot(page, 'enrol-forbidden');

    await logout(page);
    await login(page, ADMIN_KEY);
    await nav(page, 'Keys');
    const row = page.locator('#keys-table tbody tr', { hasText: 'browser test viewer' });
    page.once('dialog', (d) => d.accept());
    await row.getByRole('button', { name: 'Revoke' }).click();
    await row.getByText('revoked', { exact: true }).waitFor();
    await logout(page);
    const again = await login(page, key);
    const text = await settled(page, 'login');
    check(again.status() === 401 && /refused/.test(text), `the revoked key is refused: "${text}"`);
}

async function testNarrowScreen(page) {
    await login(page, ADMIN_KEY);
    await page.setViewportSize({ width: 390, height: 844 });
    await answer(page, 'POST', '/v1/recognize', () =>
        page.setInputFiles('#rec-file', path.join(DATA, 'bbt1.jpg')),
    );
    await settled(page, 'recognize');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(wide <= 390, `a phone-sized screen needs no sideways scrolling (page ${wide}px wide)`);
    await shot(page, 'recognize-phone');
}

async function main() {
    if (!BASE || !ADMIN_KEY)
        throw new Error('set VISAGE_URL and VISAGE_KEY (tests/ui/run.sh does)');
    fs.mkdirSync(SCREENS, { recursive: true });
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'visage-ui-'));
    const context = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        headless: true,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--use-fake-ui-for-media-stream',
            '--use-fake-device-for-media-stream',
        ],
        viewport: { width: 1280, height: 900 },
    });
    try {
        await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
        const page = context.pages()[0] || (await context.newPage());
        page.setDefaultTimeout(120000);
        page.on('pageerror', (e) => check(false, `no script error on the page: ${e.message}`));
        await testLogin(page);
        const enrolled = await testEnrol(page);
        const seen = await testRecognize(page);
        console.log(
            `bbt1..bbt5 with ${enrolled} people enrolled: ${seen.known} faces known, ` +
                `${seen.possible} possible, ${seen.unknown} unknown`,
        );
        check(seen.known > 0, 'at least one face of the group photos is named');
        await testStrangers(page);
        await testCamera(page);
        await testDrop(page);
        await testBadUpload(page);
        await testPeople(page);
        await testAttributes(page);
        await testFilters(page);
        await testFaces(page);
        await testKeys(page);
        await testNarrowScreen(page);
    } finally {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
    }
    console.log(failures ? `ui_test: ${failures} check(s) failed` : 'ui_test: all checks passed');
    process.exit(failures ? 1 : 0);
}

main().catch((e) => {
    console.error(`FAIL ${e.stack || e}`);
    process.exit(1);
});
