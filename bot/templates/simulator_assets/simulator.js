// 接诉 simulator page: shows what the fake WeChat platform recorded (GET /simulator/api/messages) in three
// panes — the resident's official-account chat, the grid groups' robot messages, the staff app — and
// plays a guided tour through the same endpoints a person would use.
'use strict';

const SIM = JSON.parse(document.getElementById('sim-config').textContent);
const TZ = SIM.timezone;                            // community.timezone: every time is shown in it
const PEOPLE = SIM.people || {};                    // userid -> {name, label}: staff and grid leaders
const GRIDS = Object.fromEntries((SIM.grids || []).map((g) => [g.key, g]));
const RESIDENT_NAMES = Object.fromEntries((SIM.residents || []).map((r) => [r.openid, r.name]));
const PARAMS = new URLSearchParams(location.search);
const TOUR_PAUSE = PARAMS.has('tour_pause') ? Math.max(0, Number(PARAMS.get('tour_pause')) || 0) : 2200;   // ms per step

const $ = (id) => document.getElementById(id);
const chat = $('chat');
const feed = $('group-feed');
const staffLog = $('staff-log');
const residentSel = $('resident');
const staffSel = $('staff');
const errorBox = $('error');
const staffError = $('staff-error');

let lastId = 0;
let loaded = false;
const recorded = [];

// -- small helpers -------------------------------------------------------------------------------------
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = text;
  return e;
}
function str(v) { return v == null ? '' : typeof v === 'string' ? v : JSON.stringify(v); }
function plain(b) { return typeof b === 'string' ? b : JSON.stringify(b); }
function isObj(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
function nearBottom(box) { return box.scrollHeight - box.scrollTop - box.clientHeight < 48; }
function personName(userid) { return (PEOPLE[userid] && PEOPLE[userid].name) || userid; }

// -- safe rendering: everything is escaped first; only the few rules below make markup ---------------
const ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ESC[c]); }

// Rules run over escaped text. What they make is set aside as a \u0000n\u0000 token (the input cannot
// contain \u0000: it is removed first), so a later rule never rewrites an earlier one's markup, and no
// text ever lands inside an attribute except a link's URL, which is escaped and must be http(s).
function markup(raw, rules) {
  const kept = [];
  const keep = (html) => '\u0000' + (kept.push(html) - 1) + '\u0000';
  let h = esc(String(raw).replace(/\u0000/g, ''));
  for (const rule of rules) h = rule(h, keep);
  return h.replace(/\u0000(\d+)\u0000/g, (_, i) => kept[Number(i)]);
}

const RULES = {
  link: (h, keep) => h.replace(/\[([^\]\n]+)\]\((https?:\/\/[^\s()]+)\)/g,
    (_, text, url) => keep(`<a href="${url}" target="_blank" rel="noopener noreferrer">`) + text + keep('</a>')),
  font: (h, keep) => h.replace(/&lt;font\s+color=(?:&quot;|&#39;)?(info|comment|warning)(?:&quot;|&#39;)?\s*&gt;([\s\S]*?)&lt;\/font&gt;/g,
    (_, colour, text) => keep(`<span class="md-${colour}">`) + text + keep('</span>')),
  code: (h, keep) => h.replace(/`([^`\n]+)`/g, (_, text) => keep('<code>') + text + keep('</code>')),
  bold: (h, keep) => h.replace(/\*\*(.+?)\*\*/g, (_, text) => keep('<b>') + text + keep('</b>')),
  mention: (h, keep) => h.replace(/&lt;@([A-Za-z0-9_.@-]{1,64})&gt;/g, (_, id) => keep(mentionHtml(id))),
  // numbers stay whole: ticket codes (#20261206-0001), dates and times (12-06 09:12), ranges (1-5); the
  // browser would otherwise break a line after their hyphen
  nobreak: (h, keep) => h.replace(/#?\d+(?:[-:.\/]\d+)+/g, (m) => keep('<span class="nb">') + m + keep('</span>')),
  textcard: (h, keep) => h.replace(/&lt;div class=(?:&quot;|&#39;)?(gray|normal|highlight)(?:&quot;|&#39;)?&gt;([\s\S]*?)&lt;\/div&gt;/g,
    (_, cls, text) => keep(`<div class="tc-${cls}">`) + text + keep('</div>')),
};
const INLINE = [RULES.link, RULES.font, RULES.code, RULES.bold, RULES.mention, RULES.nobreak];

function mentionHtml(userid) {
  if (userid === '@all' || userid === 'all') return '<span class="mention all">@所有人</span>';
  return `<span class="mention" title="${esc(userid)}">@${esc(personName(userid))}</span>`;
}

// WeCom robot markdown as the WeCom client shows it: # headings, **bold**, [text](url), `code`,
// > quote lines, <font color="info|comment|warning">, <@userid> mentions.
function renderMarkdown(md) {
  const lines = String(md).replace(/\r\n?/g, '\n').split('\n');
  let out = '';
  let quote = null;
  const flush = () => { if (quote !== null) out += '<div class="md-quote">' + quote + '</div>'; quote = null; };
  for (const line of lines) {
    const q = /^>\s?(.*)$/.exec(line);
    if (q) { quote = (quote || '') + '<div class="md-line">' + markup(q[1], INLINE) + '</div>'; continue; }
    flush();
    const head = /^(#{1,6})\s+(.*)$/.exec(line);
    out += head ? `<div class="md-line md-h md-h${head[1].length}">${markup(head[2], INLINE)}</div>`
                : '<div class="md-line">' + markup(line, INLINE) + '</div>';
  }
  flush();
  return out;
}

// plain text (a WeChat message, a robot text): escaped, only numbers kept whole
function textHtml(s) { return markup(s, [RULES.nobreak]); }
function textEl(tag, cls, s) { const e = el(tag, cls); e.innerHTML = textHtml(s); return e; }

// -- times: in the community's timezone, "09:12" today (the simulated today), "12-06 09:12" otherwise --
let partsFormat;
try {
  partsFormat = new Intl.DateTimeFormat('en-CA', {timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
                                                 hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
} catch (e) {      // an unknown timezone: UTC, and say so in the labels
  partsFormat = null;
}
function localParts(d) {
  const fmt = partsFormat || new Intl.DateTimeFormat('en-CA', {timeZone: 'UTC', year: 'numeric', month: '2-digit',
                                                               day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
  const p = {};
  for (const part of fmt.formatToParts(d)) p[part.type] = part.value;
  return p;
}
let today = null;            // "YYYY-MM-DD" of the bot's (simulated) clock, in TZ
function dayKey(p) { return `${p.year}-${p.month}-${p.day}`; }
function timeLabel(at) {
  const d = new Date(at);
  if (isNaN(d)) return str(at);
  const p = localParts(d);
  const hm = `${p.hour}:${p.minute}` + (partsFormat ? '' : ' UTC');
  if (today === dayKey(p)) return hm;
  if (today && today.slice(0, 4) !== p.year) return `${p.year}-${p.month}-${p.day} ${hm}`;
  return `${p.month}-${p.day} ${hm}`;
}
function timeEl(at) {
  const t = el('time', null, timeLabel(at));
  t.dataset.at = at;
  const d = new Date(at);
  if (!isNaN(d)) { const p = localParts(d); t.title = `${dayKey(p)} ${p.hour}:${p.minute}（${TZ}）`; }
  return t;
}
function setToday(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return;
  const key = dayKey(localParts(d));
  if (key === today) return;
  today = key;
  for (const t of document.querySelectorAll('time[data-at]')) t.textContent = timeLabel(t.dataset.at);
}

// -- tabs (phone) and unread badges ---------------------------------------------------------------------
const PHONE = window.matchMedia('(max-width: 700px)');
let activeTab = 'resident';
const unread = {resident: 0, groups: 0, staff: 0};
const residentUnread = {};
const groupUnread = {};
let groupFilter = '';

function paneBody(tab) { return {resident: chat, groups: feed, staff: staffLog}[tab]; }
function paneVisible(tab) { return !PHONE.matches || activeTab === tab; }
function bump(tab) { if (loaded && !paneVisible(tab)) unread[tab]++; }
function showBadge(badge, n) { badge.textContent = n > 99 ? '99+' : String(n); badge.hidden = !n; }
function updateBadges() {
  for (const b of document.querySelectorAll('#tabs .tab')) showBadge(b.querySelector('.badge'), unread[b.dataset.tab]);
  for (const c of document.querySelectorAll('#group-filter .chip')) {
    const n = c.dataset.key ? (groupUnread[c.dataset.key] || 0) : 0;
    showBadge(c.querySelector('.badge'), n);
  }
  for (const o of residentSel.options) {
    const n = residentUnread[o.value] || 0;
    o.textContent = o.dataset.name + (n ? `（${n} 条新消息）` : '');
  }
}
function showTab(tab) {
  activeTab = tab;
  for (const b of document.querySelectorAll('#tabs .tab')) {
    b.classList.toggle('active', b.dataset.tab === tab);
    b.setAttribute('aria-selected', String(b.dataset.tab === tab));
  }
  for (const p of document.querySelectorAll('.pane')) p.classList.toggle('active', p.dataset.tab === tab);
  if (unread[tab]) { unread[tab] = 0; updateBadges(); }
  const body = paneBody(tab);
  body.scrollTop = body.scrollHeight;
}
for (const b of document.querySelectorAll('#tabs .tab')) b.onclick = () => showTab(b.dataset.tab);
PHONE.addEventListener('change', () => { if (!PHONE.matches) { unread.resident = unread.groups = unread.staff = 0; updateBadges(); } });

// -- the resident's chat ----------------------------------------------------------------------------------
const CHAT_APIS = ['resident', 'reply', 'mp_custom_send', 'mp_template_send'];
// whose conversation a recorded call belongs to (a template message names its resident in touser)
function chatOf(m) { return m.target || (isObj(m.body) ? m.body.touser : null); }

// 模板消息 as WeChat shows it: a card with first, keyword1..n and remark (values as {value, color})
function templateCard(b) {
  const data = isObj(b.data) ? b.data : {};
  const val = (k) => isObj(data[k]) ? str(data[k].value) : str(data[k]);
  const card = el('div', 'msg bot card template');
  card.appendChild(el('div', 'card-title', '模板消息' + (b.template_id ? ' · ' + str(b.template_id) : '')));
  if ('first' in data) card.appendChild(textEl('div', 'card-first', val('first')));
  const keys = Object.keys(data).filter((k) => k !== 'first' && k !== 'remark')
    .sort((a, c) => a.localeCompare(c, 'en', {numeric: true}));
  if (keys.length) {
    const dl = document.createElement('dl');
    for (const k of keys) {
      dl.appendChild(el('dt', '', k));
      const dd = textEl('dd', '', val(k));
      const color = isObj(data[k]) ? data[k].color : null;
      if (typeof color === 'string' && /^#[0-9a-fA-F]{3,8}$/.test(color)) dd.style.color = color;
      dl.appendChild(dd);
    }
    card.appendChild(dl);
  }
  if ('remark' in data) card.appendChild(textEl('div', 'card-remark', val('remark')));
  if (b.url) card.appendChild(el('div', 'card-foot', '详情 › ' + str(b.url)));
  return card;
}

function botRow(bubble) {
  const row = el('div', 'cmsg');
  row.append(el('div', 'avatar', '诉'), bubble);
  return row;
}

function chatItem(m) {
  const b = m.body || {};
  if (m.api === 'resident') {
    if (b.type === 'event') return el('div', 'csys', b.content === '关注了公众号' ? '你关注了公众号' : '[' + str(b.content) + ']');
    let bubble;
    if (b.type === 'image' && typeof b.content === 'string' && b.content.startsWith('/simulator/')) {
      bubble = el('div', 'msg me photo');
      const img = el('img');
      img.src = b.content;           // served by the bot: the same bytes the bot fetched and pushed to the group
      img.alt = '照片';
      bubble.appendChild(img);
    } else if (b.type === 'image') {
      bubble = el('div', 'msg me', '[照片]');
    } else if (b.type === 'voice') {
      bubble = textEl('div', 'msg me', '🎤 语音：' + str(b.content));
    } else if (b.type === 'location') {
      bubble = textEl('div', 'msg me', '📍 ' + str(b.content));
    } else {
      bubble = textEl('div', 'msg me', str(b.content));
    }
    const row = el('div', 'cmsg mine');
    row.appendChild(bubble);
    return row;
  }
  if (m.api === 'reply') return botRow(textEl('div', 'msg bot', str(b.content)));
  if (m.errcode) return null;   // refused (outside 48 h, unsubscribed): what follows it is what arrived
  if (m.api === 'mp_template_send' && isObj(b) && isObj(b.data)) return botRow(templateCard(b));
  if (m.api === 'mp_custom_send' && isObj(b.text) && b.text.content) return botRow(textEl('div', 'msg bot', str(b.text.content)));
  return botRow(el('div', 'msg bot', plain(b)));
}

let chatOwner = null;
function renderChat() {
  const me = residentSel.value;
  const stick = chatOwner !== me || nearBottom(chat);
  chatOwner = me;
  chat.textContent = '';
  let previous = null;
  for (const m of recorded) {
    if (!CHAT_APIS.includes(m.api) || chatOf(m) !== me) continue;
    let item;
    try { item = chatItem(m); } catch (e) { item = botRow(el('div', 'msg bot', plain(m.body))); }   // an odd shape: as text
    if (!item) continue;
    const at = Date.parse(m.at);
    if (previous === null || !(at - previous < 5 * 60 * 1000)) {      // as WeChat: a time line after a pause
      const line = el('div', 'ctime');
      line.appendChild(timeEl(m.at));
      chat.appendChild(line);
    }
    previous = at;
    item.dataset.id = m.id;
    item.title = timeLabel(m.at);
    chat.appendChild(item);
  }
  if (stick) chat.scrollTop = chat.scrollHeight;
}

// -- the grid groups -------------------------------------------------------------------------------------
// 群机器人 image: {msgtype: "image", image: {base64, md5}}; the type is read from the data itself
function imageType(b64) {
  return b64.startsWith('/9j/') ? 'image/jpeg' : b64.startsWith('iVBOR') ? 'image/png' : b64.startsWith('R0lGOD') ? 'image/gif'
    : b64.startsWith('UklGR') ? 'image/webp' : 'image/png';
}

function mentionsHtml(list) {
  return (Array.isArray(list) ? list : []).map((id) => mentionHtml(str(id))).join(' ');
}

function sameOrigin(url) { return typeof url === 'string' && /^\/(?!\/)/.test(url); }
function httpUrl(url) { return typeof url === 'string' && /^https?:\/\//.test(url); }

function newsCard(b) {
  const articles = (isObj(b.news) && Array.isArray(b.news.articles) ? b.news.articles : []).filter(isObj);
  const card = el('div', 'push news');
  articles.forEach((a, i) => {
    const link = el(httpUrl(a.url) ? 'a' : 'div', i === 0 ? 'lead' : 'more');
    if (httpUrl(a.url)) { link.href = a.url; link.target = '_blank'; link.rel = 'noopener noreferrer'; }
    if (i === 0) {
      const pic = el('div', 'pic');
      // only pictures the bot serves itself are loaded (no third-party requests from the page)
      if (sameOrigin(a.picurl)) pic.style.backgroundImage = `url("${encodeURI(a.picurl).replace(/"/g, '%22')}")`;
      link.append(pic, textEl('div', 'ntitle', str(a.title)));
      card.appendChild(link);
      if (a.description) card.appendChild(textEl('div', 'ndesc', str(a.description)));
    } else {
      link.appendChild(textEl('span', '', str(a.title)));
      card.appendChild(link);
    }
  });
  if (!articles.length) card.appendChild(el('div', 'ndesc', plain(b)));
  return card;
}

function robotContent(b) {
  if (b.msgtype === 'markdown' && isObj(b.markdown)) {
    const div = el('div', 'push markdown');
    div.innerHTML = renderMarkdown(str(b.markdown.content));
    return div;
  }
  if (b.msgtype === 'text' && isObj(b.text)) {
    const list = Array.isArray(b.text.mentioned_list) ? b.text.mentioned_list : [];
    const mentions = mentionsHtml(list.filter((x) => x !== '@all')) +
      (Array.isArray(b.text.mentioned_mobile_list) ? ' ' + b.text.mentioned_mobile_list.map((x) => '<span class="mention">@' + esc(str(x)) + '</span>').join(' ') : '');
    if (list.includes('@all')) {            // an @all page: the whole group is alerted, so it looks like one
      const div = el('div', 'push emergency');
      div.appendChild(el('div', 'banner', '🚨 紧急 · 全员提醒'));
      const text = el('div', 'etext');
      text.innerHTML = textHtml(str(b.text.content)) + ' <span class="mention all">@所有人</span>' + (mentions.trim() ? ' ' + mentions : '');
      div.appendChild(text);
      return div;
    }
    const div = el('div', 'push text');
    div.innerHTML = textHtml(str(b.text.content)) + (mentions.trim() ? ' ' + mentions : '');
    return div;
  }
  if (b.msgtype === 'image' && isObj(b.image) && typeof b.image.base64 === 'string' && b.image.base64) {
    const div = el('div', 'push image');
    const img = el('img', 'robot-image');
    img.alt = '群机器人图片';
    img.title = b.image.md5 ? 'md5 ' + str(b.image.md5) : '';
    img.src = 'data:' + imageType(b.image.base64) + ';base64,' + b.image.base64.replace(/[^A-Za-z0-9+/=]/g, '');
    div.appendChild(img);
    return div;
  }
  if (b.msgtype === 'news') return newsCard(b);
  return el('div', 'push text', plain(b));
}

function groupMessage(m) {
  const key = m.target;
  const grid = GRIDS[key];
  const row = el('div', 'gmsg');
  row.dataset.key = key;
  row.dataset.id = m.id;
  const body = el('div', 'gbody');
  const meta = el('div', 'gmeta');
  meta.append(el('span', 'gsender', (grid ? grid.name + '群' : key) + ' · 接诉机器人'), timeEl(m.at));
  let content;
  try { content = robotContent(isObj(m.body) ? m.body : {}); } catch (e) { content = el('div', 'push text', plain(m.body)); }
  content.dataset.key = key;
  body.append(meta, content);
  row.append(el('div', 'avatar', '机'), body);
  row.hidden = !!groupFilter && groupFilter !== key;
  return row;
}

function addGroupMessage(m) {
  const stick = nearBottom(feed) || !loaded;
  feed.appendChild(groupMessage(m));
  bump('groups');
  if (loaded && groupFilter && groupFilter !== m.target) groupUnread[m.target] = (groupUnread[m.target] || 0) + 1;
  if (stick) feed.scrollTop = feed.scrollHeight;
}

function setGroupFilter(key) {
  groupFilter = key;
  for (const c of document.querySelectorAll('#group-filter .chip')) c.classList.toggle('active', c.dataset.key === key);
  for (const row of feed.querySelectorAll('.gmsg')) row.hidden = !!key && row.dataset.key !== key;
  if (key) groupUnread[key] = 0; else for (const k of Object.keys(groupUnread)) groupUnread[k] = 0;
  updateBadges();
  feed.scrollTop = feed.scrollHeight;
}
for (const c of document.querySelectorAll('#group-filter .chip')) c.onclick = () => setGroupFilter(c.dataset.key);

// -- the staff app: commands (with who sent them), the bot's replies, app messages to staff --------------
function staffEntry(m) {
  const b = isObj(m.body) ? m.body : {};
  const row = el('div', 'smsg');
  row.dataset.id = m.id;
  const meta = el('div', 'smeta');
  let bubble;
  if (m.api === 'staff') {
    row.classList.add('cmd');
    if (b.type === 'card_tap') row.classList.add('tap');
    row.dataset.userid = m.target;
    meta.append(el('span', 'who', (PEOPLE[m.target] && PEOPLE[m.target].label) || m.target), timeEl(m.at));
    bubble = textEl('div', 'msg me', (b.type === 'card_tap' ? '👆 ' : '') + str(b.content));
  } else if (m.api === 'staff_reply') {
    row.classList.add('reply');
    row.dataset.userid = m.target;
    meta.append(el('span', '', '接诉 → ' + personName(m.target)), timeEl(m.at));
    bubble = textEl('div', 'msg bot', str(b.content));
  } else {                                      // wecom_send: the app writes to staff
    row.classList.add('app');
    const to = str(b.touser || m.target).split('|').filter(Boolean);
    row.dataset.userid = to.join('|');
    meta.append(el('span', '', '应用消息 → ' + (to.map(personName).join('、') || str(b.toparty || b.totag))), timeEl(m.at));
    if (b.msgtype === 'markdown' && isObj(b.markdown)) {
      bubble = el('div', 'msg bot');
      bubble.style.whiteSpace = 'normal';
      bubble.innerHTML = renderMarkdown(str(b.markdown.content));
    } else if (b.msgtype === 'textcard' && isObj(b.textcard)) {
      bubble = el('div', 'msg bot card');
      bubble.appendChild(textEl('div', 'card-title', str(b.textcard.title)));
      const d = el('div', 'card-first');
      d.innerHTML = markup(str(b.textcard.description), [RULES.textcard, RULES.nobreak]);
      bubble.appendChild(d);
      if (b.textcard.url) bubble.appendChild(el('div', 'card-foot', (str(b.textcard.btntxt) || '详情') + ' › ' + str(b.textcard.url)));
    } else {
      bubble = textEl('div', 'msg bot', isObj(b.text) ? str(b.text.content) : plain(b));
    }
  }
  row.append(meta, bubble);
  return row;
}

function addStaffEntry(m) {
  if (isCardSend(m)) { if (!m.errcode) for (const st of cardRecords(m)) placeCard(st); return; }   // a refused send reached nobody
  const stick = nearBottom(staffLog) || !loaded;
  staffLog.appendChild(staffEntry(m));
  bump('staff');
  if (stick) staffLog.scrollTop = staffLog.scrollHeight;
}

// -- WeCom template cards (button_interaction) in the staff app: one entry per card (task_id), placed
// where it was sent and redrawn in place when the bot updates it; its buttons tap through the real
// /wecom callback (POST /simulator/api/card_tap) as the card's recipient, who must be the person played.
const cardRows = {};            // task_id + userid -> the row in the staff log
const cardState = {};           // task_id + userid -> {task_id, userid, card, at}: the newest content known
const cardTapping = new Set();  // task_ids with a tap on its way

function isCardSend(m) {
  const b = m.body;
  return (m.api === 'wecom_card' || m.api === 'wecom_send') && isObj(b) && b.msgtype === 'template_card' && isObj(b.template_card);
}
// an update_template_card request (recorded as wecom_card_update)
function isCardUpdate(m) {
  const b = m.body;
  return !isCardSend(m) && isObj(b) && isObj(b.template_card) && 'response_code' in b;
}
// one card per recipient (touser "a|b" on a send, userids on an update)
function cardRecords(m) {
  const b = m.body;
  const to = Array.isArray(b.userids) ? b.userids.map(str) : str(b.touser || m.target).split('|');
  return to.filter(Boolean).map((userid) => ({task_id: str(b.template_card.task_id), userid, card: b.template_card, at: m.at, id: m.id}));
}
function cardKey(task, userid) { return task + '\u0001' + userid; }
function playing(userid) { return userid === staffSel.value; }

// WeCom's button styles: 1 blue, 2 grey, 3 red, 4 plain
function cardButton(task, userid, btn) {
  const b = isObj(btn) ? btn : {};
  const key = str(b.key);
  const style = [1, 2, 3, 4].includes(Number(b.style)) ? Number(b.style) : 1;
  const button = el('button', `cbtn s${style}`, str(b.text) || key);
  button.type = 'button';
  button.dataset.key = key;
  button.dataset.task = task;
  button.dataset.userid = userid;
  button.onclick = () => tapCard(userid, task, key);
  return button;
}

function cardBody(task, userid, card) {
  const c = isObj(card) ? card : {};
  const box = el('div', 'msg bot wecard');
  const source = isObj(c.source) ? c.source : {};
  box.appendChild(el('div', 'wc-source', str(source.desc) || '接诉'));
  const main = isObj(c.main_title) ? c.main_title : {};
  if (main.title) box.appendChild(textEl('div', 'wc-title', str(main.title)));
  if (main.desc) box.appendChild(textEl('div', 'wc-desc', str(main.desc)));
  if (c.sub_title_text) box.appendChild(textEl('div', 'wc-sub', str(c.sub_title_text)));
  const items = (Array.isArray(c.horizontal_content_list) ? c.horizontal_content_list : []).filter(isObj);
  if (items.length) {
    const dl = el('dl', 'wc-list');
    for (const it of items) { dl.appendChild(el('dt', '', str(it.keyname))); dl.appendChild(textEl('dd', '', str(it.value))); }
    box.appendChild(dl);
  }
  const buttons = (Array.isArray(c.button_list) ? c.button_list : []).filter(isObj);
  const bar = el('div', 'wc-buttons');
  for (const b of buttons) bar.appendChild(cardButton(task, userid, b));
  box.appendChild(bar);
  box.dataset.settled = buttons.length && buttons.every((b) => b.key === 'noop') ? '1' : '0';
  return box;
}

// which buttons can be tapped: the recipient is the person played, the button is not a settled card's
// "已处理", and no tap on this card is on its way
function refreshCardButtons() {
  for (const button of staffLog.querySelectorAll('.wecard .cbtn')) {
    const mine = playing(button.dataset.userid);
    button.disabled = !mine || button.dataset.key === 'noop' || cardTapping.has(button.dataset.task);
    button.title = button.dataset.key === 'noop' ? '已处理' : mine ? '' : `以 ${personName(button.dataset.userid)} 的身份才能点`;
  }
  for (const row of Object.values(cardRows)) row.classList.toggle('mine', playing(row.dataset.userid));
}

function drawCard(row, st) {
  const meta = el('div', 'smeta');
  meta.append(el('span', '', '卡片消息 → ' + personName(st.userid)), timeEl(st.at));
  row.textContent = '';
  row.dataset.userid = st.userid;
  let body;
  try { body = cardBody(st.task_id, st.userid, st.card); } catch (e) { body = el('div', 'msg bot', plain(st.card)); }
  row.append(meta, body);
  row.dataset.shown = JSON.stringify(st.card);
}

// a card sent (or known from GET /simulator/api/cards): a new entry, or the newest content in place
function placeCard(st) {
  const task = st.task_id;
  if (!task || !st.userid) return;
  const k = cardKey(task, st.userid);
  const known = cardState[k];
  const first = known ? known.at : st.at;
  if (!known || !known.updated || st.updated) cardState[k] = {...st, at: first};
  const now = cardState[k];
  let row = cardRows[k];
  if (!row) {
    row = el('div', 'smsg app card-row');
    row.dataset.task = task;
    if (st.id != null) row.dataset.id = st.id;
    cardRows[k] = row;
    drawCard(row, now);
    const stick = nearBottom(staffLog) || !loaded;
    staffLog.appendChild(row);
    bump('staff');
    if (stick) staffLog.scrollTop = staffLog.scrollHeight;
  } else if (row.dataset.shown !== JSON.stringify(now.card)) {
    drawCard(row, now);
    if (loaded) { row.classList.remove('flash'); void row.offsetWidth; row.classList.add('flash'); }
  }
  refreshCardButtons();
}

async function fetchCards() {
  let data;
  try {
    const res = await fetch('/simulator/api/cards');
    if (!res.ok) return;
    data = await res.json();
  } catch (e) { return; }
  const list = (data.cards || []).filter((c) => isObj(c) && isObj(c.card));
  list.sort((a, b) => str(a.updated_at).localeCompare(str(b.updated_at)));      // any card not seen sent: oldest first
  for (const c of list) {
    placeCard({task_id: str(c.task_id || c.card.task_id), userid: str(c.userid), card: c.card, at: c.updated_at, updated: true});
  }
}

async function tapCard(userid, task, key) {
  staffError.textContent = '';
  if (!playing(userid)) { staffError.textContent = `这张卡片发给 ${personName(userid)}：先在「我是」里选 ta`; return {}; }
  cardTapping.add(task);
  staffLog.dataset.tapping = String(cardTapping.size);
  refreshCardButtons();
  let data = {};
  try {
    const res = await fetch('/simulator/api/card_tap', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({userid, task_id: task, key})});
    data = await res.json();
    if (!res.ok) staffError.textContent = data.error || ('错误 ' + res.status);
  } catch (e) {
    staffError.textContent = '点击失败：' + e;
  }
  await poll();          // the tap and the reply are recorded by the server; the card's new look follows from the outbox
  cardTapping.delete(task);
  staffLog.dataset.tapping = String(cardTapping.size);
  refreshCardButtons();
  return data;
}

// -- polling: one request at a time, each record shown once -------------------------------------------------
function show(fresh) {
  let chatChanged = false;
  for (const m of fresh) {
    try {
      if (isCardUpdate(m)) {
        if (!m.errcode) for (const st of cardRecords(m)) if (cardRows[cardKey(st.task_id, st.userid)]) placeCard({...st, updated: true});
      }
      else if (m.api === 'robot') addGroupMessage(m);
      else if (m.api === 'staff' || m.api === 'staff_reply' || m.api === 'wecom_send' || m.api === 'wecom_card') addStaffEntry(m);
      else if (CHAT_APIS.includes(m.api)) {
        chatChanged = true;
        const who = chatOf(m);
        if (loaded && m.api !== 'resident' && !m.errcode) {
          if (who !== residentSel.value) residentUnread[who] = (residentUnread[who] || 0) + 1;
          bump('resident');
        }
      }
    } catch (e) { console.error('could not show', m, e); }
  }
  if (chatChanged) renderChat();
  updateBadges();
}

let pollChain = Promise.resolve();
let pollsWaiting = 0;
async function fetchNew() {
  let data;
  try {
    const res = await fetch('/simulator/api/messages?since=' + lastId);
    data = await res.json();
  } catch (e) { return; }           // server restarting: try again
  const fresh = [];
  for (const m of data.messages || []) {
    if (m.id <= lastId) continue;
    lastId = m.id;
    recorded.push(m);
    fresh.push(m);
  }
  if (fresh.length) show(fresh);
  await fetchCards();
  loaded = true;
}
// Every poll starts after the one before it ends, so a caller that just did something sees its result.
function poll() {
  pollsWaiting++;
  const p = pollChain.then(fetchNew).finally(() => { pollsWaiting--; });
  pollChain = p.catch(() => {});
  return p;
}

// -- the bot's clock: shown, and moved forward from the bar at the top --------------------------------------
const clockError = $('clock-error');

function showClock(c) {
  const t = $('sim-time');
  t.textContent = c.display;
  t.title = c.now_local + '（' + c.timezone + '）';
  t.dataset.now = c.now;
  $('sim-offset').textContent = c.offset_text ? '（' + c.offset_text + '）' : '';
  for (const b of document.querySelectorAll('.clock-advance')) b.disabled = !c.can_advance;
  $('clock-reset').disabled = !c.can_reset;
  setToday(c.now);
}

async function pollClock() {
  try {
    const res = await fetch('/simulator/api/clock');
    if (res.ok) showClock(await res.json());
  } catch (e) { /* server restarting: try again */ }
}

async function moveClock(payload) {
  clockError.textContent = '';
  const buttons = document.querySelectorAll('#clockbar button');
  for (const b of buttons) b.disabled = true;
  let ok = false;
  try {
    const res = await fetch('/simulator/api/clock', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(payload)});
    const data = await res.json();
    ok = res.ok;
    if (!res.ok) clockError.textContent = data.error || ('错误 ' + res.status);
    if (data.display) showClock(data); else for (const b of buttons) b.disabled = false;
  } catch (e) {
    clockError.textContent = '时钟调整失败：' + e;
    for (const b of buttons) b.disabled = false;
  }
  await poll();
  return ok;
}

for (const b of document.querySelectorAll('.clock-advance')) b.onclick = () => moveClock({advance: JSON.parse(b.dataset.advance)});
$('clock-reset').onclick = () => moveClock({reset: true});

// -- sending, as a resident and as staff ---------------------------------------------------------------------
async function send(payload, openid) {
  errorBox.textContent = '';
  payload.openid = openid || residentSel.value;
  let data = {};
  try {
    const res = await fetch('/simulator/api/send', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(payload)});
    data = await res.json();
    if (!res.ok) errorBox.textContent = data.error || ('错误 ' + res.status);
  } catch (e) {
    errorBox.textContent = '发送失败：' + e;
  }
  await poll();
  return data;
}

async function staffSend(content, userid) {
  staffError.textContent = '';
  let data = {};
  try {
    const res = await fetch('/simulator/api/staff', {method: 'POST', headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({userid: userid || staffSel.value, content})});
    data = await res.json();
    if (!res.ok) staffError.textContent = data.error || ('错误 ' + res.status);
  } catch (e) {
    staffError.textContent = '发送失败：' + e;
  }
  await poll();            // the command and the reply are recorded by the server: the log shows them from there
  return data;
}

$('send').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('text');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  send({type: 'text', content: text});
});
$('photo').onclick = () => send({type: 'image'});
$('voice').onclick = () => { const t = $('text'); send({type: 'voice', recognition: t.value}); t.value = ''; };
$('location').onclick = () => send({type: 'location', lat: 30.27415, lng: 120.15515, label: prompt('位置名称', '幸福里社区3号楼') || ''});
$('subscribe').onclick = () => send({type: 'subscribe'});
residentSel.onchange = () => { residentUnread[residentSel.value] = 0; updateBadges(); renderChat(); };
staffSel.onchange = () => { staffError.textContent = ''; refreshCardButtons(); };
$('staff-send').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('command');
  const content = input.value.trim();
  if (!content) return;
  input.value = '';
  staffSend(content);
});

// -- the guided tour (导览): a whole ticket through the real endpoints, each step waiting for the last -----
const ZHANG = 'o-sim-zhang-ayi';
const WANG = 'o-sim-wang-xiansheng';
const REPORT = '3号楼楼道有人飞线充电';
const FIRE = '着火了！28号楼3楼冒黑烟';
const CODE_RE = /#(\d{8}-\d{4})/;
let tourRun = 0;

class TourStopped extends Error {}
function recText(m) { return JSON.stringify(m.body); }        // every string the record carries
function isChatSend(m) { return (m.api === 'mp_custom_send' || m.api === 'mp_template_send') && !m.errcode; }
function findRecord(pred, after) { return recorded.find((m) => m.id > after && pred(m)); }

async function until(run, what, pred, timeoutMs = 20000) {
  const start = Date.now();
  for (;;) {
    if (run !== tourRun) throw new TourStopped();
    await poll();
    const found = pred();
    if (found) return found;
    if (Date.now() - start > timeoutMs) throw new Error('没有等到' + what);
    await delay(200);
  }
}

function flash(m) {
  const node = m && document.querySelector(`[data-id="${m.id}"]`);
  if (!node) return;
  node.classList.remove('flash');
  void node.offsetWidth;               // restart the animation
  node.classList.add('flash');
  node.scrollIntoView({block: 'nearest'});
}

function focusPane(tab) {
  for (const p of document.querySelectorAll('.pane')) p.classList.toggle('tour-focus', p.dataset.tab === tab);
  if (tab && PHONE.matches) showTab(tab);
}

function selectResident(openid) {
  if (residentSel.value !== openid) { residentSel.value = openid; residentSel.onchange(); }
}

async function typeAndSend(openid, text) {
  selectResident(openid);
  const input = $('text');
  input.value = text;                                 // shown in the box for a moment, as if typed
  await delay(Math.min(TOUR_PAUSE / 2, 900));
  input.value = '';
  return send({type: 'text', content: text}, openid);
}

async function typeCommand(userid, command) {
  staffSel.value = userid;
  refreshCardButtons();
  const input = $('command');
  input.value = command;
  await delay(Math.min(TOUR_PAUSE / 2, 900));
  input.value = '';
  return staffSend(command, userid);
}

const TOUR = [
  {pane: 'resident', caption: () => `居民张阿姨在公众号留言：「${REPORT}」`,
   run: async (c) => {
     const mark = lastId;
     await typeAndSend(ZHANG, REPORT);
     const reply = await until(c.run, '接诉的回复', () => findRecord((m) => m.api === 'reply' && m.target === ZHANG, mark));
     const found = CODE_RE.exec(recText(reply));
     if (!found) throw new Error('回复里没有工单号：' + str(reply.body.content));
     c.code = found[1];
     flash(reply);
   }},
  {pane: 'resident', caption: (c) => `不到一秒，她就收到回复：工单号 #${c.code}、问题类别、负责的网格长和到场时限`,
   run: async (c) => flash(findRecord((m) => m.api === 'reply' && recText(m).includes(c.code), c.since))},
  {pane: 'groups', caption: () => '同时，网格群的机器人推送了这张新工单，并 @ 了网格长',
   run: async (c) => {
     setGroupFilter('');
     const push = await until(c.run, '网格群的推送', () => findRecord((m) => m.api === 'robot' && recText(m).includes(c.code), c.since));
     c.leader = (GRIDS[push.target] && GRIDS[push.target].leader_userid) || 'wangfang';
     flash(push);
   }},
  {pane: 'staff', caption: (c) => `网格长${personName(c.leader)}赶到现场，在企业微信里发送 /onsite ${c.code}`,
   run: async (c) => {
     const mark = lastId;
     await typeCommand(c.leader, `/onsite ${c.code}`);
     flash(await until(c.run, '到场登记的回复', () => findRecord((m) => m.api === 'staff_reply' && m.target === c.leader, mark)));
   }},
  {pane: 'resident', caption: (c) => `张阿姨马上收到通知：${personName(c.leader)}已到场处理`,
   run: async (c) => {
     selectResident(ZHANG);
     flash(await until(c.run, '给居民的到场通知', () => findRecord((m) => isChatSend(m) && chatOf(m) === ZHANG
       && recText(m).includes(c.code) && recText(m).includes('到场'), c.since)));
   }},
  {pane: 'groups', caption: () => '时间快进 3 小时：过了「3 小时处理」的时限，网格群收到超时提醒',
   run: async (c) => {
     const mark = lastId;
     if (!await moveClock({advance: {hours: 3}})) throw new Error('时钟没有快进：' + clockError.textContent);
     flash(await until(c.run, '超时提醒', () => findRecord((m) => m.api === 'robot' && recText(m).includes(c.code)
       && /超时(提醒|督办)/.test(recText(m)), mark)));
   }},
  {pane: 'staff', caption: (c) => `${personName(c.leader)}处理完毕，发送 /close ${c.code} 已拆除`,
   run: async (c) => {
     const mark = lastId;
     await typeCommand(c.leader, `/close ${c.code} 已拆除`);
     flash(await until(c.run, '办结的回复', () => findRecord((m) => m.api === 'staff_reply' && m.target === c.leader, mark)));
   }},
  {pane: 'resident', caption: () => '张阿姨收到办结通知，请她给这次处理打分',
   run: async (c) => {
     selectResident(ZHANG);
     flash(await until(c.run, '请居民评价的通知', () => findRecord((m) => isChatSend(m) && chatOf(m) === ZHANG
       && recText(m).includes(c.code) && recText(m).includes('打分'), c.since)));
   }},
  {pane: 'resident', caption: () => '张阿姨回复「5」：非常满意',
   run: async (c) => {
     let mark = lastId;
     await typeAndSend(ZHANG, '5');
     let reply = await until(c.run, '评价的回复', () => findRecord((m) => m.api === 'reply' && m.target === ZHANG, mark));
     if (!recText(reply).includes('5 分')) {          // she has other tickets waiting for a rating: name this one
       mark = lastId;
       await typeAndSend(ZHANG, `评价 ${c.code} 5`);
       reply = await until(c.run, '评价的回复', () => findRecord((m) => m.api === 'reply' && m.target === ZHANG, mark));
     }
     flash(reply);
   }},
  {pane: 'resident', caption: () => `再看紧急情况：王先生留言「${FIRE}」，立刻收到拨打 119 的提示`,
   run: async (c) => {
     const mark = lastId;
     await typeAndSend(WANG, FIRE);
     const reply = await until(c.run, '紧急情况的回复', () => findRecord((m) => m.api === 'reply' && m.target === WANG, mark));
     const found = CODE_RE.exec(recText(reply));
     c.emergency = found ? found[1] : '';
     flash(reply);
   }},
  {pane: 'groups', caption: (c) => `网格群收到红色的「@所有人」紧急提醒${c.emergency ? ' #' + c.emergency : ''}，群里每个人都会被提醒`,
   run: async (c) => {
     setGroupFilter('');
     flash(await until(c.run, '@所有人 紧急提醒', () => findRecord((m) => m.api === 'robot' && isObj(m.body.text)
       && Array.isArray(m.body.text.mentioned_list) && m.body.text.mentioned_list.includes('@all')
       && (!c.emergency || recText(m).includes(c.emergency)), c.since)));
   }},
];

async function tour() {
  const run = ++tourRun;
  const bar = $('tour');
  const startButton = $('tour-start');
  startButton.disabled = true;
  bar.hidden = false;
  bar.className = '';
  $('tour-stop').textContent = '停止';
  document.body.dataset.tour = 'running';
  await poll();
  const c = {run, since: lastId};
  try {
    for (let i = 0; i < TOUR.length; i++) {
      if (run !== tourRun) throw new TourStopped();
      const step = TOUR[i];
      $('tour-step').textContent = `导览 ${i + 1}/${TOUR.length}`;
      $('tour-caption').innerHTML = textHtml(step.caption(c));
      focusPane(step.pane);
      await step.run(c);
      await delay(TOUR_PAUSE);
    }
    bar.className = 'done';
    $('tour-step').textContent = '导览完成';
    $('tour-caption').innerHTML = textHtml(`#${c.code} 从留言、推送、到场、超时提醒、办结到评价，每一步都有记录。现在可以自己试试：换个居民留言，或在工作人员窗口输入 /help`);
    document.body.dataset.tour = 'done';
  } catch (e) {
    if (e instanceof TourStopped || run !== tourRun) {
      if (run === tourRun) { bar.hidden = true; document.body.dataset.tour = 'stopped'; }
      return;
    }
    bar.className = 'failed';
    $('tour-step').textContent = '导览中断';
    $('tour-caption').textContent = e.message || String(e);
    document.body.dataset.tour = 'failed';
  } finally {
    if (run === tourRun) { startButton.disabled = false; focusPane(null); $('tour-stop').textContent = '关闭'; }
  }
}
$('tour-start').onclick = () => { tour(); };
$('tour-stop').onclick = () => {
  tourRun++;
  $('tour').hidden = true;
  $('tour-start').disabled = false;
  focusPane(null);
  document.body.dataset.tour = 'stopped';
};

// -- start: the clock first (so "today" is known), then everything recorded so far --------------------------
(async () => {
  await pollClock();
  await poll();
  document.body.dataset.ready = '1';
  setInterval(() => { if (!pollsWaiting) poll(); }, 1000);
  setInterval(pollClock, 2000);
})();
