-- Migration 0009: full-text search over the text of messages (GET /api/v1/sessions?q=...).
--
-- A GIN index on an expression, not a stored column: the table keeps its shape (no query reads a new
-- column, no row grows by a copy of its text), every write maintains the index in its own statement,
-- and on Citus the index is created on each shard like any other. The text is what a person reads:
-- text blocks, the text of tool results and reasoning text. A redacted message is indexed by its
-- redact_message only, so text a guardrail took out cannot be found.
--
-- 'simple' configuration: agents talk in any language, and an English stemmer would mangle the others
-- (and drop their words as stop words where they spell English ones); 'simple' only lower-cases, so a
-- query finds the words as written, in every language alike.
--
-- These functions are part of the index: an index keeps what they returned when each row was written.
-- Changing one means a new migration that replaces it and rebuilds the index, so they live here and
-- not in functions.sql (which every init-db re-applies).

-- The message's JSON text with every escape PostgreSQL cannot turn into text replaced by a space or
-- U+FFFD, so that reading the document can never fail the write that indexes it. `json` keeps the text
-- as sent, and accepts \u0000 and unpaired surrogate escapes that ->> refuses (the service stores lone
-- surrogates escaped: app/schemas.py json_text). An escape is real when an even number of backslashes
-- precedes it (\\u0000 is a backslash and the letters u0000); each pattern runs twice because its match
-- takes the character before an escape, which hides the next of two adjacent ones. Replacing a lone low
-- surrogate first, then a high one no low follows, never leaves a lone one behind. Those patterns cost
-- about a second a megabyte on text dense with such escapes, so a message of more than 256 KiB of JSON
-- that holds one is not indexed (NULL: no words), rather than hold its write for many seconds.
CREATE OR REPLACE FUNCTION message_search_json(message json) RETURNS json
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN t !~* '\\u(0000|d[89a-f])' THEN message WHEN length(t) > 262144 THEN NULL ELSE (
    SELECT CASE WHEN u !~* '\\ud[89a-f]' THEN u ELSE
        regexp_replace(regexp_replace(regexp_replace(regexp_replace(u,
            '((?:^|[^\\])(?:\\\\)*)(?<![^\\]\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}', '\1\\ufffd', 'g'),
            '((?:^|[^\\])(?:\\\\)*)(?<![^\\]\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}', '\1\\ufffd', 'g'),
            '((?:^|[^\\])(?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})', '\1\\ufffd', 'g'),
            '((?:^|[^\\])(?:\\\\)*)\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})', '\1\\ufffd', 'g')
    END::json
    FROM (SELECT CASE WHEN strpos(t, '\u0000') = 0 THEN t ELSE
        regexp_replace(regexp_replace(t,
            '((?:^|[^\\])(?:\\\\)*)\\u0000', '\1\\u0020', 'g'),
            '((?:^|[^\\])(?:\\\\)*)\\u0000', '\1\\u0020', 'g')
    END AS u) AS nul)
END
FROM (SELECT message::text AS t) AS m
$$;

-- What a person reads in a Strands message: its text blocks, the text of its tool results and its
-- reasoning text, in order (content that is one string, not a list of blocks, is text too). Whatever
-- else the message holds (content of another type, blocks that are not objects, text that is not a
-- string) adds nothing and fails nothing: `->` on a scalar is NULL, and json_array_elements only ever
-- sees an array.
CREATE OR REPLACE FUNCTION message_search_text(message json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path FROM CURRENT AS $$
SELECT string_agg(t.text, ' ' ORDER BY b.n, t.n)
FROM (SELECT message_search_json(message) -> 'content' AS content) AS d
CROSS JOIN LATERAL json_array_elements(CASE json_typeof(d.content) WHEN 'array' THEN d.content
    WHEN 'string' THEN json_build_array(json_build_object('text', d.content)) ELSE '[]' END)
    WITH ORDINALITY AS b (block, n)
CROSS JOIN LATERAL (
    SELECT 0, CASE WHEN json_typeof(b.block -> 'text') = 'string' THEN b.block ->> 'text' END
    UNION ALL
    SELECT 1, CASE WHEN json_typeof(b.block -> 'reasoningContent' -> 'reasoningText' -> 'text') = 'string'
                   THEN b.block -> 'reasoningContent' -> 'reasoningText' ->> 'text' END
    UNION ALL
    SELECT 1 + r.n, CASE WHEN json_typeof(r.part -> 'text') = 'string' THEN r.part ->> 'text' END
    FROM json_array_elements(CASE WHEN json_typeof(b.block -> 'toolResult' -> 'content') = 'array'
                                  THEN b.block -> 'toolResult' -> 'content' ELSE '[]' END)
        WITH ORDINALITY AS r (part, n)
) AS t (n, text)
WHERE t.text <> ''
$$;

-- The index's document: the redacted version when there is one, else the message. Its first 200,000
-- characters at most (some 30,000 words): a tsvector holds at most 1 MB of lexemes, and a character
-- takes at most 4 bytes in UTF-8 (lower-casing one takes it to 3 at most), so no message, however long
-- its text, can fail its write with "string is too long for tsvector". Words past that are not found.
--
-- It and message_search_text call functions of this schema by name, so they carry the search_path they
-- were created with: pg_dump restores with an empty one, and its CREATE INDEX would not find them.
CREATE OR REPLACE FUNCTION message_search_vector(message json, redact_message json) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path FROM CURRENT AS $$
SELECT to_tsvector('simple'::regconfig,
    coalesce(left(message_search_text(CASE WHEN redact_message IS NULL THEN message ELSE redact_message END), 200000), ''))
$$;

-- On a schema already distributed over Citus the index is created on every shard, so the workers need
-- the functions first (init-db --distributed does the same for a schema it distributes later).
DO $$
BEGIN
    -- Nested: pg_dist_partition exists only with Citus, and a statement is planned when first run.
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'citus') THEN
        IF EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'session_messages'::regclass) THEN
            PERFORM create_distributed_function('message_search_json(json)');
            PERFORM create_distributed_function('message_search_text(json)');
            PERFORM create_distributed_function('message_search_vector(json, json)');
        END IF;
    END IF;
END
$$;

-- Builds the document of every stored message once, here; from now on each write indexes its own row.
CREATE INDEX IF NOT EXISTS session_messages_search_idx
    ON session_messages USING gin (message_search_vector(message, redact_message));

INSERT INTO schema_migrations (version) VALUES ('0009') ON CONFLICT DO NOTHING;
