"""A community's two years of tickets, written server-side for bench/bench_desk.py.

    generate(dsn, n_tickets, now, tz, policy)  ->  {step: seconds}

Everything is INSERT ... SELECT over generate_series (no row is built in Python), in this order:

  grids      30 grids, 10 communities x 3 (社区k-网格j: buildings 1-12, 13-24, 25-36)
  residents  n/8 residents (bench-<id>)
  stage      an UNLOGGED table with one row per ticket: every ticket column plus the draws the
             child tables need (lead and referred party, rating time ...). Times: a day drawn over
             the last 730 days with volume growing toward today (half uniform, half sqrt), 85% of
             reports between 07:00 and 21:00 local time; ids and codes (YYYYMMDD-NNNN, local day)
             follow created_at. Text: one of ~45 Chinese templates (weighted, each with its
             category) with building, unit and room numbers. Status by age: ~3% active (85% of the
             last 3 days', 35% of the last 30 days' and 0.6% of older ones, stuck), 3% merged/cancelled/outside, resolved
             for the last week, closed before that. ~1% emergencies (trapped, gas, fire ...).
             Onsite and fix (plan for complex categories) met within their 40 min / 3 h / 2 d line,
             6% of each late; 5% of return visits after their 7 days (about 5% of promises late).
  search     if ticket has a `search` column that the database does not compute itself, the
             documents of the distinct (text, place) pairs of the stage are computed by
             storage.search.document (the function insert_ticket calls), copied into a table and
             joined in the ticket INSERT: every row holds exactly what the bot would have written.
  tickets    INSERT INTO ticket ... SELECT FROM stage ORDER BY id
  children   ticket_milestone (register, onsite, fix or plan, visit once resolved, a referred
             party's reply; each with its round's start and its ticket's grid, as
             handlers/effects.py writes them), ticket_party (the lead party of the policy's
             category_party, a co party for half of illegal_build / security / neighbor and for
             every referred ticket),
             ticket_rating (~30% of tickets rated 1-5, ~20% of the rest asked and not answered),
             ticket_event (~5.5 per ticket: created, assigned, onsite, planned, referred, replied,
             warned/escalated for late ones, resolved, rated, visited, cancelled/merged),
             attachment (an image on 10%).
  indexes    the secondary indexes the migrations made (read back with pg_get_indexdef, dropped
             before the load and rebuilt after it, so they are exactly the real ones, just freshly
             built); constraint indexes (primary keys, unique) stay in place during the load.
  VACUUM ANALYZE every table (what autovacuum would have done by then: visibility map, statistics).

Times are naive UTC, as storage.models.UTCDateTime stores them.
"""
from __future__ import annotations

import inspect
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import psycopg

from nlp import categories

DAYS = 730
COMMUNITIES, GRIDS_PER = 10, 3
LOADED_TABLES = ("resident", "ticket", "ticket_milestone", "ticket_party", "ticket_rating", "ticket_event", "attachment")

# (category, text, weight): {b} building, {u} unit, {r} room
TEMPLATES = [
    ("garbage", "{b}号楼{u}单元门口的垃圾桶满了好几天没人清理，味道很大", 6),
    ("garbage", "{b}号楼楼下垃圾分类点有人乱扔垃圾，苍蝇很多", 5),
    ("garbage", "{b}号楼旁边的建筑垃圾堆了一个月了，谁来清一下", 3),
    ("repair", "{b}号楼{u}单元{r}室卫生间漏水，楼下天花板都湿了", 5),
    ("repair", "{b}号楼{r}室厨房下水道堵了，水漫出来了", 4),
    ("repair", "{b}号楼{u}单元外墙有裂缝，一下雨就渗水", 2),
    ("repair", "我家{r}室楼上漏水，墙皮都掉了，{b}号楼{u}单元", 3),
    ("elevator", "{b}号楼{u}单元电梯又坏了，老人上不了楼", 4),
    ("elevator", "{b}号楼电梯运行的时候异响很大，怕出事", 2),
    ("elevator", "{b}号楼{u}单元电梯按钮失灵，停不到我们这层", 2),
    ("parking", "{b}号楼门口有车长期占用消防通道", 4),
    ("parking", "地库{b}号楼那边的车位每天都被别人占了", 3),
    ("parking", "小区门口乱停车，{b}号楼的车出不去", 3),
    ("noise", "{b}号楼{r}室晚上装修噪音太大，十一点了还在敲", 4),
    ("noise", "{b}号楼楼下广场舞音响太吵了", 3),
    ("neighbor", "{b}号楼{r}室邻居在楼道里放鞋柜，说了也不听，吵起来了", 2),
    ("neighbor", "楼上{r}室的空调外机滴水到我家阳台，{b}号楼，沟通没用", 2),
    ("facility", "{b}号楼{u}单元楼道灯不亮，晚上看不见路", 4),
    ("facility", "{b}号楼旁边的健身器材坏了，小孩玩容易受伤", 2),
    ("facility", "{b}号楼单元门的门禁坏了，谁都能进", 3),
    ("greenery", "{b}号楼前面的树枝挡住窗户了，能不能修剪一下", 2),
    ("greenery", "{b}号楼旁边的草坪被人种了菜", 1),
    ("high_throw", "{b}号楼有人从楼上往下扔东西，差点砸到人", 1),
    ("flying_wire", "{b}号楼{u}单元有人从窗户拉电线下来给电动车充电", 2),
    ("hallway_fire", "{b}号楼{u}单元楼道堆满了纸箱杂物，堵住了消防通道", 3),
    ("hallway_fire", "{b}号楼楼道里有人给电动车充电，很危险", 2),
    ("illegal_build", "{b}号楼顶楼有人在搭建阳光房", 1),
    ("illegal_build", "{b}号楼一楼{r}室在院子里违章搭建", 1),
    ("property_service", "物业收费不清楚，{b}号楼的公共维修费用没有公示", 2),
    ("property_service", "{b}号楼的保洁好几天没来了，物业也不回电话", 2),
    ("utilities", "{b}号楼{u}单元停水了，什么时候来水", 3),
    ("utilities", "{b}号楼{r}室燃气表有问题，有点味道", 1),
    ("utilities", "{b}号楼整栋停电，冰箱里的东西要坏了", 2),
    ("utilities", "{b}号楼{u}单元的水管爆了，一直在漏水", 2),
    ("pets", "{b}号楼有人遛狗不牵绳，也不清理狗屎", 3),
    ("pets", "{b}号楼楼下流浪猫很多，晚上一直叫", 1),
    ("security", "{b}号楼楼下的电动车被偷了", 1),
    ("security", "最近{b}号楼附近有陌生人挨家敲门推销", 1),
    ("public_service", "请问办理居住证明需要带什么材料，我住{b}号楼", 2),
    ("public_service", "老年人助餐点在哪里，{b}号楼的老人想去", 1),
    ("other", "{b}号楼的快递柜一直是满的，能不能多放一个", 1),
    ("other", "想问一下{b}号楼什么时候做外墙翻新", 1),
]
EMERGENCY_KIND = {"elevator": "trapped", "utilities": "gas", "security": "violence", "hallway_fire": "fire",
                  "flying_wire": "fire", "high_throw": "injury"}
CO_PARTY = {"illegal_build": "chengguan", "security": "police", "neighbor": "legal"}
ACTIVE = ("open", "assigned", "onsite", "planned", "referred")


def grid_names() -> list[tuple[str, str]]:
    """(name, buildings) of the 30 grids, community by community."""
    return [(f"社区{k}-网格{j}", f"{(j - 1) * 12 + 1}-{j * 12}")
            for k in range(1, COMMUNITIES + 1) for j in range(1, GRIDS_PER + 1)]


def _templates() -> tuple[list[str], list[str]]:
    """The weighted templates as two parallel arrays (category, text), every category of the
    taxonomy present (one with no template above gets a plain one) and none outside it."""
    known = categories.all_categories()
    rows = [(c, t, w) for c, t, w in TEMPLATES if c in known]
    for code, cat in known.items():
        if not any(c == code for c, _, _ in rows):
            rows.append((code, "{b}号楼{u}单元：" + cat.name + "的问题，请处理", 1))
    cats, texts = [], []
    for c, t, w in rows:
        cats += [c] * w
        texts += [t] * w
    return cats, texts


def _stage_sql() -> str:
    return f"""
CREATE UNLOGGED TABLE bench_stage AS
WITH raw AS MATERIALIZED (
    SELECT CASE WHEN random() < 0.5 THEN random() ELSE sqrt(random()) END AS x,
           random() AS r_tod, random() AS r_tod2,
           1 + floor(random() * cardinality(%(tpl_cat)s::text[]))::int AS tpl,
           1 + floor(random() * 36)::int AS bld, 1 + floor(random() * {COMMUNITIES})::int AS comm,
           1 + floor(random() * 4)::int AS unit,
           (1 + floor(random() * 30)::int) * 100 + 1 + floor(random() * 4)::int AS room,
           random() AS r_end, random() AS r_act, random() AS r_sub, random() AS r_emerg, random() AS r_src,
           random() AS r_on, random() AS r_fix, random() AS r_late_on, random() AS r_late_fix, random() AS r_rate,
           random() AS r_score, random() AS r_visit, random() AS r_conf, random() AS r_co, random() AS r_rt
    FROM generate_series(1, %(n)s)
), timed AS MATERIALIZED (
    SELECT raw.*,
           LEAST(((%(local_start)s::timestamp + floor(x * {DAYS}) * interval '1 day'
                   + CASE WHEN r_tod < 0.85 THEN interval '7 hours' + r_tod2 * interval '14 hours'
                          ELSE r_tod2 * interval '24 hours' END) AT TIME ZONE %(tz)s) AT TIME ZONE 'UTC',
                 %(now)s - interval '2 minutes' - r_tod2 * interval '6 hours') AS c
    FROM raw
), ord AS MATERIALIZED (
    SELECT row_number() OVER (ORDER BY c) AS id,
           row_number() OVER (PARTITION BY ((c AT TIME ZONE 'UTC') AT TIME ZONE %(tz)s)::date ORDER BY c) AS seq,
           to_char((c AT TIME ZONE 'UTC') AT TIME ZONE %(tz)s, 'YYYYMMDD') AS day, timed.*
    FROM timed
), k AS (
    SELECT ord.*, (%(tpl_cat)s::text[])[tpl] AS category,
           extract(epoch FROM %(now)s - c) / 86400.0 AS age,
           (comm - 1) * {GRIDS_PER} + (bld - 1) / 12 AS grid_no,
           CASE WHEN r_src < 0.80 THEN 'wechat' WHEN r_src < 0.90 THEN 'hotline' WHEN r_src < 0.94 THEN 'walk_in'
                WHEN r_src < 0.99 THEN 'patrol' ELSE 'open311' END AS source
    FROM ord
), s AS (
    SELECT k.*, (%(grid_ids)s::int[])[grid_no + 1] AS grid_id,
           category = ANY(%(complex)s::text[]) AS complex_,
           (%(lead_party)s::text[])[array_position(%(lead_cat)s::text[], category)] AS lead,
           CASE WHEN r_end < 0.005 THEN 'merged' WHEN r_end < 0.025 THEN 'cancelled' WHEN r_end < 0.03 THEN 'outside'
                WHEN r_act < CASE WHEN age < 3 THEN 0.85 WHEN age < 30 THEN 0.35 ELSE 0.006 END THEN
                     CASE WHEN r_sub < 0.2 OR age < 0.03 THEN 'open' WHEN r_sub < 0.5 THEN 'assigned'
                          WHEN r_sub < 0.7 THEN 'onsite'
                          WHEN r_sub < 0.85 THEN CASE WHEN category = ANY(%(complex)s::text[]) THEN 'planned' ELSE 'onsite' END
                          ELSE 'referred' END
                WHEN age < 8 AND r_sub < 0.85 THEN 'resolved' WHEN r_sub < 0.02 THEN 'resolved'
                ELSE 'closed' END AS status,
           CASE WHEN r_end >= 0.025 AND r_end < 0.03 THEN NULL
                WHEN r_emerg < 0.03 THEN (%(em_kind)s::text[])[array_position(%(em_cat)s::text[], category)]
                WHEN r_emerg < 0.034 THEN 'injury' END AS emergency,
           CASE WHEN source IN ('wechat', 'open311') OR (source IN ('hotline', 'walk_in') AND r_src < 0.92)
                THEN 1 + (id * 7919) %% %(n_res)s END AS resident_id
    FROM k
), t AS (
    SELECT s.*,
           CASE WHEN status = 'outside' THEN NULL WHEN emergency IS NOT NULL THEN c + interval '10 minutes'
                ELSE c + interval '40 minutes' END AS due_onsite_at,
           CASE WHEN status = 'outside' OR emergency IS NOT NULL THEN NULL WHEN complex_ THEN c + interval '2 days'
                ELSE c + interval '3 hours' END AS due_fix_at,
           c + CASE WHEN emergency IS NOT NULL THEN
                        CASE WHEN r_late_on < 0.06 THEN interval '11 minutes' + r_on * interval '50 minutes'
                             ELSE interval '2 minutes' + r_on * interval '8 minutes' END
                    WHEN r_late_on < 0.06 THEN interval '41 minutes' + r_on * interval '5 hours'
                    ELSE interval '5 minutes' + r_on * interval '34 minutes' END AS onsite_c,
           c + CASE WHEN complex_ THEN
                        CASE WHEN r_late_fix < 0.06 THEN interval '49 hours' + r_fix * interval '4 days'
                             ELSE interval '3 hours' + r_fix * interval '44 hours' END
                    WHEN emergency IS NOT NULL THEN interval '30 minutes' + r_fix * interval '4 hours'
                    WHEN r_late_fix < 0.06 THEN interval '181 minutes' + r_fix * interval '2 days'
                    ELSE interval '50 minutes' + r_fix * interval '129 minutes' END AS fix_c,
           CASE WHEN status NOT IN ('open', 'merged', 'cancelled', 'outside') THEN
                CASE WHEN lead = 'wuye' THEN 'wuye01' ELSE 'leader_' || (grid_no + 1) END END AS assignee,
           CASE WHEN status = 'outside' THEN NULL
                WHEN (%(co_party)s::text[])[array_position(%(co_cat)s::text[], category)] IS NOT NULL AND r_co < 0.5
                THEN (%(co_party)s::text[])[array_position(%(co_cat)s::text[], category)]
                WHEN status = 'referred' THEN 'hotline' END AS co
    FROM s
), u AS (
    SELECT t.*,
           CASE WHEN status IN ('onsite', 'planned', 'referred', 'resolved', 'closed')
                THEN LEAST(onsite_c, %(now)s - interval '1 minute') END AS onsite_at,
           CASE WHEN complex_ AND status IN ('planned', 'resolved', 'closed')
                THEN LEAST(fix_c, %(now)s - interval '1 minute') END AS planned_at,
           CASE WHEN status IN ('resolved', 'closed')
                THEN LEAST(CASE WHEN complex_ THEN fix_c + interval '1 hour' + r_visit * interval '8 days' ELSE fix_c END,
                           %(now)s - interval '1 minute') END AS resolved_at,
           CASE WHEN co IS NOT NULL THEN LEAST(c + interval '1 hour', %(now)s - interval '1 minute') END AS co_at
    FROM t
), v AS (
    SELECT u.*,
           CASE WHEN status = 'closed' THEN LEAST(resolved_at + CASE WHEN r_late_on > 0.95
                                                                     THEN interval '7 days 1 hour' + r_visit * interval '3 days'
                                                                     ELSE interval '12 hours' + r_visit * interval '6 days' END,
                                                  %(now)s) END AS visited_at,
           CASE WHEN co IS NOT NULL AND status IN ('resolved', 'closed')
                THEN LEAST(co_at + interval '3 hours' + r_fix * interval '1 day', resolved_at) END AS co_replied_at,
           onsite_at > due_onsite_at AS late_on,
           COALESCE(CASE WHEN complex_ THEN planned_at ELSE resolved_at END, %(now)s) > due_fix_at AS late_fix,
           CASE WHEN status IN ('resolved', 'closed') AND resident_id IS NOT NULL AND r_rate < 0.375 THEN
                CASE WHEN q < 0.55 THEN 5 WHEN q < 0.80 THEN 4 WHEN q < 0.90 THEN 3 WHEN q < 0.95 THEN 2 ELSE 1 END
           END AS rating
    FROM u CROSS JOIN LATERAL (
        SELECT r_score * 0.9 + (grid_no %% 5) * 0.025
               + CASE WHEN onsite_at > due_onsite_at OR resolved_at > due_fix_at THEN 0.25 ELSE 0 END AS q) AS qq
)
SELECT id, day || '-' || CASE WHEN seq < 10000 THEN lpad(seq::text, 4, '0') ELSE seq::text END AS code,
       category,
       CASE WHEN emergency IS NOT NULL OR category = ANY(%(urgent)s::text[]) THEN 'urgent' ELSE 'normal' END AS priority,
       emergency, status, 1 AS round, source, NULL::timestamp AS round_started_at,
       replace(replace(replace((%(tpl_text)s::text[])[tpl], '{{b}}', bld::text), '{{u}}', unit::text), '{{r}}', room::text) AS text,
       round((0.55 + r_conf * 0.45)::numeric, 3)::float AS confidence,
       json_build_array((%(cat_name)s::text[])[array_position(%(cat_code)s::text[], category)]) AS terms,
       r_conf > 0.05 AS category_confirmed, false AS needs_detail,
       bld || '号楼' || unit || '单元' AS location_text, bld::text AS building, unit::text AS unit, room::text AS room,
       NULL::float AS latitude, NULL::float AS longitude, grid_id, resident_id, c AS created_at,
       CASE WHEN status IN ('merged', 'cancelled', 'outside') THEN LEAST(c + interval '1 hour', %(now)s)
            ELSE GREATEST(c, onsite_at, planned_at, resolved_at, visited_at, co_at, co_replied_at) END AS updated_at,
       due_onsite_at, due_fix_at, resolved_at, assignee, onsite_at, rating, planned_at, visited_at,
       visited_at AS closed_at,
       CASE WHEN status = 'merged' AND id > 1 THEN id - 1 END AS merged_into_id,
       NULL::timestamp AS last_urged_at,
       -- not ticket columns: what the child tables need
       day, seq, complex_, lead, co, co_at, co_replied_at, late_on, late_fix,
       CASE WHEN rating IS NOT NULL THEN LEAST(resolved_at + r_rt * interval '2 days', %(now)s) END AS rated_at,
       rating IS NULL AND r_rate < 0.6 AS asked_only
FROM v
ORDER BY id
"""


TICKET_COLS = ("id, code, category, priority, emergency, status, round, source, round_started_at, text, confidence, "
               "terms, category_confirmed, needs_detail, location_text, building, unit, room, latitude, longitude, "
               "grid_id, resident_id, created_at, updated_at, due_onsite_at, due_fix_at, resolved_at, assignee, "
               "onsite_at, rating, planned_at, visited_at, closed_at, merged_into_id, last_urged_at")

ACTIVE_SQL = "('" + "','".join(ACTIVE) + "')"

MILESTONES = f"""
INSERT INTO ticket_milestone (ticket_id, round, name, party, due_at, met_at, late_seconds, stage, next_check_at,
                              round_started_at, grid_id)
SELECT st.id, 1, m.name, m.party, m.due, m.met,
       CASE WHEN m.met IS NULL THEN NULL WHEN m.due IS NULL OR m.met <= m.due THEN 0
            ELSE extract(epoch FROM m.met - m.due)::int END,
       CASE WHEN m.due IS NOT NULL AND COALESCE(m.met, %(now)s) > m.due THEN 2 ELSE 0 END,
       CASE WHEN m.met IS NULL AND m.due IS NOT NULL AND st.status IN {ACTIVE_SQL} THEN
            CASE WHEN m.due > %(now)s THEN m.due - interval '10 minutes'
                 ELSE %(now)s + interval '1 hour' + (st.id %% 1440) * interval '1 minute' END END,
       st.created_at, st.grid_id                  -- round 1 began with the report (its registration)
FROM bench_stage AS st CROSS JOIN LATERAL (VALUES
    ('register', '', st.created_at + interval '5 minutes', st.created_at),
    ('onsite', '', st.due_onsite_at, st.onsite_at),
    (CASE WHEN st.complex_ THEN 'plan' ELSE 'fix' END, '', st.due_fix_at,
     CASE WHEN st.complex_ THEN st.planned_at ELSE st.resolved_at END),
    ('visit', '', st.resolved_at + interval '7 days', st.visited_at),
    ('reply', st.co, st.co_at + interval '2 days', st.co_replied_at)
) AS m(name, party, due, met)
WHERE st.status <> 'outside' AND (m.name <> 'visit' OR st.resolved_at IS NOT NULL)
  AND (m.name <> 'reply' OR st.co IS NOT NULL)
ORDER BY st.id"""

PARTIES = """
INSERT INTO ticket_party (ticket_id, party, role, round, referred_at, referred_by, note, replied_at, reply)
SELECT id, party, role, 1, at, by, note, replied_at, reply FROM (
    SELECT id, lead AS party, 'lead' AS role, created_at AS at, 'system:bot' AS by, NULL AS note,
           NULL::timestamp AS replied_at, NULL AS reply
    FROM bench_stage WHERE lead IS NOT NULL AND status <> 'outside'
    UNION ALL
    SELECT id, co, 'co', co_at, 'staff:zhaomin', '请协助处理', co_replied_at,
           CASE WHEN co_replied_at IS NOT NULL THEN '已安排人员处理' END
    FROM bench_stage WHERE co IS NOT NULL) AS p
ORDER BY id, role DESC"""

RATINGS = """
INSERT INTO ticket_rating (ticket_id, round, resident_id, requested_at, score, rated_at)
SELECT id, 1, resident_id, resolved_at, rating, rated_at
FROM bench_stage WHERE rating IS NOT NULL OR (asked_only AND status IN ('resolved', 'closed') AND resident_id IS NOT NULL)
ORDER BY id"""

EVENTS = """
INSERT INTO ticket_event (ticket_id, at, actor, kind, data)
SELECT st.id, e.at, e.actor, e.kind, e.data
FROM bench_stage AS st CROSS JOIN LATERAL (VALUES
    (st.created_at, CASE WHEN st.resident_id IS NOT NULL THEN 'resident:bench-' || st.resident_id ELSE 'staff:zhaomin' END,
     'created', json_build_object('category', st.category, 'confidence', st.confidence, 'terms', st.terms,
                                  'emergency', st.emergency, 'source', st.source,
                                  'safety_rules', CASE WHEN st.emergency IS NOT NULL
                                                       THEN json_build_array('kw:' || st.emergency) END)),
    (CASE WHEN st.status = 'outside' THEN st.created_at END, 'bot', 'referred_out', json_build_object('body', '12345')),
    (CASE WHEN st.assignee IS NOT NULL THEN LEAST(st.created_at + interval '3 minutes', st.updated_at) END,
     'staff:leader_1', 'assigned', json_build_object('to', st.assignee)),
    (st.onsite_at, 'staff:' || COALESCE(st.assignee, 'zhaomin'), 'onsite', '{}'::json),
    (st.planned_at, 'staff:' || COALESCE(st.assignee, 'zhaomin'), 'planned',
     json_build_object('text', '已制定方案，预计一周内完成')),
    (st.co_at, 'staff:zhaomin', 'referred', json_build_object('party', st.co, 'note', '请协助处理')),
    (st.co_replied_at, 'staff:zhaomin', 'party_replied', json_build_object('party', st.co, 'text', '已安排人员处理')),
    (CASE WHEN st.late_fix AND st.status NOT IN ('merged', 'cancelled') THEN st.due_fix_at - interval '45 minutes' END,
     'system:sweep', 'warned', json_build_object('milestone', CASE WHEN st.complex_ THEN 'plan' ELSE 'fix' END)),
    (CASE WHEN st.late_fix AND st.status NOT IN ('merged', 'cancelled') THEN st.due_fix_at END,
     'system:sweep', 'escalated', json_build_object('milestone', CASE WHEN st.complex_ THEN 'plan' ELSE 'fix' END, 'step', 1)),
    (st.resolved_at, 'staff:' || COALESCE(st.assignee, 'zhaomin'), 'resolved', json_build_object('result', '已处理完毕')),
    (st.rated_at, 'resident:bench-' || st.resident_id, 'rated', json_build_object('score', st.rating)),
    (st.visited_at, 'staff:leader_1', 'visited', json_build_object('text', '居民表示满意')),
    (CASE WHEN st.status IN ('cancelled', 'merged') THEN st.updated_at END, 'staff:zhaomin', st.status,
     json_build_object('reason', '重复反映'))
) AS e(at, actor, kind, data)
WHERE e.at IS NOT NULL
ORDER BY st.id"""

ATTACHMENTS = """
INSERT INTO attachment (ticket_id, kind, media_id, url, label, created_at, path, content_type, size, fetched_at)
SELECT id, 'image', 'bench-media-' || id, NULL, NULL, created_at, 'bench/' || id || '.jpg', 'image/jpeg',
       100000 + (id * 37) %% 200000, created_at + interval '1 minute'
FROM bench_stage WHERE (id * 31) %% 10 = 0 ORDER BY id"""


def _search_column(c) -> str:
    """'absent', 'computed' (generated column: the database fills it) or 'plain' (we must)."""
    row = c.execute("""SELECT is_generated FROM information_schema.columns
                       WHERE table_schema = current_schema() AND table_name = 'ticket' AND column_name = 'search'""").fetchone()
    if row is None:
        return "absent"
    return "computed" if row[0] == "ALWAYS" else "plain"


def _document_function():
    """storage.search.document(text, place), the function insert_ticket uses, or None."""
    try:
        from storage import search
    except ImportError:
        return None
    fn = getattr(search, "document", None)
    if fn is None:
        return None
    try:
        inspect.signature(fn).bind("x", "y")
    except TypeError:
        return None
    return fn


def secondary_indexes(c) -> list[tuple[str, str]]:
    """(name, definition) of the indexes on the loaded tables that no constraint owns."""
    return c.execute("""SELECT i.indexname, i.indexdef FROM pg_indexes AS i
                        JOIN pg_class AS x ON x.relname = i.indexname
                        JOIN pg_namespace AS n ON n.oid = x.relnamespace AND n.nspname = i.schemaname
                        WHERE i.schemaname = current_schema() AND i.tablename = ANY(%s)
                          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = x.oid)
                        ORDER BY i.tablename, i.indexname""", (list(LOADED_TABLES),)).fetchall()


def add_grids(c) -> list[int]:
    """The 30 grids (kept if already there); their ids, community by community."""
    names = grid_names()
    c.execute("""INSERT INTO grid (name, buildings, leader_name, leader_userid, robot_key)
                 SELECT g.name, g.b, '网格长' || g.i, 'leader_' || g.i, 'bench-robot-' || g.i
                 FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS g(name, b, i) ORDER BY g.i
                 ON CONFLICT (name) DO NOTHING""", ([x for x, _ in names], [b for _, b in names]))
    ids = dict(c.execute("SELECT name, id FROM grid WHERE name = ANY(%s)", ([x for x, _ in names],)).fetchall())
    return [ids[x] for x, _ in names]


def generate(dsn: str, n: int, now: datetime, tz: str, policy, log=print) -> dict[str, float]:
    """Fill the (migrated, empty) database at `dsn` with `n` tickets as of `now` (aware UTC).
    `policy`: domain.policy.Policy (complex categories, category_party). Returns seconds per step."""
    naive_now = now.astimezone(timezone.utc).replace(tzinfo=None)
    local_today = now.astimezone(ZoneInfo(tz)).date()
    tpl_cat, tpl_text = _templates()
    known = categories.all_categories()
    cat_code = list(known)
    lead_cat = [c for c in policy.category_party if c in known]
    co_cat = [c for c in CO_PARTY if c in known]
    em_cat = [c for c in EMERGENCY_KIND if c in known]
    p = {"n": n, "n_res": max(1000, n // 8), "now": naive_now, "tz": tz,
         "local_start": datetime.combine(local_today - timedelta(days=DAYS - 1), datetime.min.time()),
         "tpl_cat": tpl_cat, "tpl_text": tpl_text, "cat_code": cat_code,
         "cat_name": [known[c].name for c in cat_code],
         "urgent": [c for c, cat in known.items() if cat.urgent is True],
         "complex": sorted(policy.complex_categories), "lead_cat": lead_cat,
         "lead_party": [policy.category_party[c] for c in lead_cat],
         "co_cat": co_cat, "co_party": [CO_PARTY[c] for c in co_cat],
         "em_cat": em_cat, "em_kind": [EMERGENCY_KIND[c] for c in em_cat]}
    took: dict[str, float] = {}

    def step(label: str, sql: str | None = None, fn=None):
        t0 = time.perf_counter()
        rows = fn() if fn else c.execute(sql, p).rowcount
        took[label] = time.perf_counter() - t0
        extra = f" ({rows:,} rows)" if isinstance(rows, int) and rows > 1 else ""
        log(f"  {label}{extra}: {took[label]:.1f} s")
        return rows

    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET synchronous_commit = off")
        c.execute("SET maintenance_work_mem = '512MB'")
        c.execute("SET work_mem = '256MB'")
        c.execute("SELECT setseed(0.4242)")
        for t in LOADED_TABLES:         # an auto-analyze's snapshot would stop VACUUM marking pages all-visible
            c.execute(f"ALTER TABLE {t} SET (autovacuum_enabled = false)")
        indexes = secondary_indexes(c)
        for name, _ in indexes:
            c.execute(f'DROP INDEX "{name}"')
        log(f"  dropped {len(indexes)} secondary indexes for the load (rebuilt from their definitions after it)")

        p["grid_ids"] = step("grids", fn=lambda: add_grids(c))
        step("residents", """INSERT INTO resident (id, openid, building, phone, state, created_at, last_seen_at)
                             SELECT i, 'bench-' || i, (1 + i %% 36)::text, NULL, '{}'::json,
                                    %(now)s - interval '800 days', %(now)s - (i %% 700) * interval '1 day'
                             FROM generate_series(1, %(n_res)s) AS i""")
        c.execute("SELECT setval(pg_get_serial_sequence('resident', 'id'), %(n_res)s)", p)
        c.execute("DROP TABLE IF EXISTS bench_stage, bench_doc")
        step("stage (every ticket's values)", _stage_sql())
        c.execute("ALTER TABLE bench_stage ADD PRIMARY KEY (id)")

        kind = _search_column(c)
        document = _document_function() if kind == "plain" else None
        cols, select, join = TICKET_COLS, "st." + TICKET_COLS.replace(", ", ", st."), ""
        if kind == "plain" and document is not None:
            def documents():
                c.execute("CREATE UNLOGGED TABLE bench_doc (text text, place text, search text)")
                pairs = c.execute("SELECT DISTINCT text, COALESCE(location_text, '') FROM bench_stage").fetchall()
                with c.cursor().copy("COPY bench_doc (text, place, search) FROM STDIN") as cp:
                    for text_, place in pairs:
                        cp.write_row((text_, place, document(text_, place or None)))
                c.execute("ANALYZE bench_doc")
                return len(pairs)
            step("search documents (storage.search.document on each distinct text and place)", fn=documents)
            cols += ", search"
            select += ", COALESCE(d.search, '')"
            join = "LEFT JOIN bench_doc AS d ON d.text = st.text AND d.place = COALESCE(st.location_text, '')"
            took["search"] = "filled by storage.search.document"
        elif kind == "plain":
            log("  NOTE: ticket.search exists but storage.search.document(text, place) was not found: "
                "search is measured with empty search terms")
            took["search"] = "present but NOT filled"
        else:
            took["search"] = {"absent": "no search column", "computed": "generated by the database"}[kind]
        step("tickets", f"INSERT INTO ticket ({cols}) SELECT {select} FROM bench_stage AS st {join} ORDER BY st.id")
        c.execute("SELECT setval(pg_get_serial_sequence('ticket', 'id'), (SELECT max(id) FROM ticket))")
        step("ticket_counter", """INSERT INTO ticket_counter (day, last)
                                  SELECT day, max(seq) FROM bench_stage GROUP BY day""")
        step("milestones", MILESTONES)
        step("parties", PARTIES)
        step("ratings", RATINGS)
        step("events", EVENTS)
        step("attachments", ATTACHMENTS)
        c.execute("DROP TABLE IF EXISTS bench_stage, bench_doc")

        def rebuild():
            for name, ddl in indexes:
                t0 = time.perf_counter()
                c.execute(ddl)
                log(f"    {name}: {time.perf_counter() - t0:.1f} s")
            return len(indexes)
        step("secondary indexes rebuilt", fn=rebuild)
        step("VACUUM ANALYZE", fn=lambda: _vacuum(c, log))
        for t in LOADED_TABLES:
            c.execute(f"ALTER TABLE {t} RESET (autovacuum_enabled)")
    return took


def _vacuum(c, log) -> int:
    """VACUUM ANALYZE every loaded table; again (up to 3 times) for one whose pages are not all
    marked all-visible yet (another session's snapshot can hold that back), so index-only scans
    work as they would on a database autovacuum has kept."""
    tables = LOADED_TABLES + ("grid",)
    for attempt in range(4):
        for t in tables:
            c.execute(f"VACUUM ANALYZE {t}" if attempt == 0 else f"VACUUM {t}")
        short = c.execute("""SELECT relname, relpages, relallvisible FROM pg_class
                             WHERE relname = ANY(%s) AND relkind = 'r' AND relallvisible < 0.98 * relpages""",
                          (list(tables),)).fetchall()
        if not short:
            return 0
        log("    not all-visible yet: " + ", ".join(f"{r} {v}/{p}" for r, p, v in short))
        tables = tuple(r for r, _, _ in short)
        time.sleep(2)
    return 0


def summary(dsn: str, now: datetime) -> str:
    """One paragraph on what was generated (counts and mixes), for the report."""
    naive_now = now.astimezone(timezone.utc).replace(tzinfo=None)
    with psycopg.connect(dsn) as c:
        n, active, emerg, rated, late_ms, ms, ev, parties, lead, att, first, last = c.execute(
            f"""SELECT (SELECT count(*) FROM ticket), (SELECT count(*) FROM ticket WHERE status IN {ACTIVE_SQL}),
                       (SELECT count(*) FROM ticket WHERE emergency IS NOT NULL),
                       (SELECT count(*) FROM ticket_rating WHERE score IS NOT NULL),
                       (SELECT count(*) FROM ticket_milestone WHERE late_seconds > 0),
                       (SELECT count(*) FROM ticket_milestone WHERE name <> 'register'),
                       (SELECT count(*) FROM ticket_event), (SELECT count(*) FROM ticket_party),
                       (SELECT count(*) FROM ticket_party WHERE role = 'lead'), (SELECT count(*) FROM attachment),
                       (SELECT min(created_at) FROM ticket), (SELECT max(created_at) FROM ticket)""").fetchone()
        statuses = c.execute("SELECT status, count(*) FROM ticket GROUP BY 1 ORDER BY 2 DESC").fetchall()
        size = c.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        last_week = c.execute("SELECT count(*) FROM ticket WHERE created_at >= %s - interval '7 days'",
                              (naive_now,)).fetchone()[0]
    pct = lambda a, b: f"{100 * a / b:.1f}%" if b else "-"  # noqa: E731
    return (f"{n:,} tickets {first:%Y-%m-%d} .. {last:%Y-%m-%d} ({last_week:,} in the last 7 days); "
            f"active {active:,} ({pct(active, n)}), emergencies {emerg:,} ({pct(emerg, n)}), "
            f"rated {rated:,} ({pct(rated, n)}); statuses " + ", ".join(f"{s} {k:,}" for s, k in statuses) +
            f"; milestones late {pct(late_ms, ms)} of {ms:,} (register excluded); events {ev:,} "
            f"({ev / n if n else 0:.1f}/ticket); parties {parties:,} ({lead:,} lead); attachments {att:,}; "
            f"database {size}")
