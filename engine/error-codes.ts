// Every code a run, a command or the API can fail with (besides the diagnostics of `weft validate`), in one typed
// table: what it means, whether trying again can help, and the HTTP status the API answers it with. The API's
// status mapping is read from here; a test checks that every code the sources raise is listed, and no other.

export interface ErrorCodeInfo {
  /** What happened, for the docs and for people reading a record. */
  meaning: string
  /** Whether the same attempt may succeed later (a node's `retry:` applies). Default true. */
  retryable?: boolean
  /** The status the API answers with when a request fails with it; absent: 500 INTERNAL (not the client's doing). */
  http?: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 416 | 429 | 500 | 503
}

export const ERROR_CODES = {
  // runs and nodes
  CANCELLED: { meaning: 'The run (or the node, as part of it) was cancelled: by a request, Ctrl-C, `weft cancel` or a failing sibling.', retryable: false },
  NODE_TIMEOUT: { meaning: "A node attempt ran past its `timeout:`; the attempt is stopped and may be retried by the node's `retry:`." },
  NODE_FAILED: { meaning: 'A node failed without a code of its own (a plugin threw a plain Error).' },
  NODE_MODULE_FAILED: { meaning: "A node type's module could not be loaded where the node runs (a worker thread or a fleet worker).", retryable: false },
  UNKNOWN_NODE_TYPE: { meaning: "The module loaded for a node does not define the node's type.", retryable: false },
  WORKER_LOST: { meaning: 'A fleet task whose worker was lost more than 3 times (each loss hands it to another worker).', retryable: false },
  OUTPUT_INVALID: { meaning: 'A node returned something that is not JSON data (a function, a cycle, a non-finite number).', retryable: false },
  OUTPUT_FAILED: { meaning: "The pipeline's `outputs:` could not be computed from the nodes' results.", retryable: false },
  EXPRESSION_SYNTAX: { meaning: 'A `${{ … }}` expression does not parse.', retryable: false },
  EXPRESSION_FAILED: { meaning: 'An expression failed while it was evaluated (a missing key, a type error, an invalid RE2 pattern).', retryable: false },
  EXPRESSION_TYPE: { meaning: 'An expression gave a value of the wrong kind at run time (a `when:` that is not true or false).', retryable: false },
  EXPRESSION_COST: { meaning: 'An expression could take more than 10 million steps over the data it reads; it was refused unrun.', retryable: false },
  INVALID_DURATION: { meaning: 'A duration (a `timeout:` or a setting) is not one such as 90s, 5m or 1h30m.', retryable: false },
  CONFIG_INVALID: { meaning: "A node field computed from the run's config or inputs does not fit its node type.", retryable: false, http: 400 },
  CONFIG_UNKNOWN: { meaning: "A config path given for a run is not in the pipeline's `config:`.", retryable: false, http: 400 },
  INPUT_INVALID: { meaning: "A run input is missing, unknown, or not of the input's type.", retryable: false, http: 400 },
  FAN_OUT_TOO_MANY_ITEMS: { meaning: "A fan-out's list is longer than its `max_items`.", retryable: false },
  FAN_OUT_ITEM_FAILED: { meaning: 'A fan-out item failed (with `on_item_error: fail`, the fan-out fails with it).', retryable: false },
  NOT_SUPPORTED: { meaning: 'A combination the engine does not run (an approval step outside a fan-out item graph).', retryable: false },
  LEASE_LOST: { meaning: "Another process took over the run's lease: this one stops driving it.", retryable: false },
  RUN_LEASED: { meaning: 'Another live process drives the run (the refusal names it and when its lease expires).', retryable: false, http: 409 },
  RUN_FINISHED: { meaning: 'The run has already ended.', retryable: false, http: 409 },
  RUN_NOT_FOUND: { meaning: 'No run with that id is recorded.', retryable: false, http: 404 },
  RUN_EXISTS: { meaning: 'A run with that id is already recorded.', retryable: false },
  UNKNOWN_NODE: { meaning: 'A node id that the pipeline does not have (`weft rerun --from`).', retryable: false, http: 400 },
  PIPELINE_NOT_FOUND: { meaning: "The pipeline is not served here, or a run's pipeline file is gone.", retryable: false, http: 404 },
  PIPELINE_INVALID: { meaning: 'The pipeline does not validate (its diagnostics come with it).', retryable: false, http: 400 },
  PIPELINE_CHANGED: { meaning: "A fleet run's pipeline file now has other nodes than when the run started.", retryable: false },
  // gates
  APPROVAL_REJECTED: { meaning: "A reviewer (or the gate's `auto: reject`) rejected the gated value.", retryable: false },
  AUTO_APPROVAL_FAILED: { meaning: "An automated run's gate check (`auto.approve_if`) was false and `otherwise` fails the run.", retryable: false },
  DECISION_INVALID: { meaning: "A decision that cannot be taken: revise without feedback, edits without approve, or edits not in the value's shape.", retryable: false, http: 400 },
  DECISION_NOT_ALLOWED: { meaning: 'A decision the gate does not allow now (revise past `max_revisions`).', retryable: false, http: 409 },
  GATE_NOT_WAITING: { meaning: 'The gate is not waiting for a decision.', retryable: false, http: 409 },
  GATE_PATH_MISSING: { meaning: "An approval's `path:` is not in the gated node's output.", retryable: false },
  NO_DECISION_SOURCE: { meaning: 'A gate asked for a decision in a run that has no way to get one.', retryable: false },
  NOT_REVISABLE: { meaning: 'A gate sent back a node whose type cannot be revised with feedback.', retryable: false },
  // models
  NO_MODEL_PROVIDER: { meaning: 'A node calls a model but the run has no model provider.', retryable: false },
  MODEL_REF_INVALID: { meaning: 'A `model:` ref names a provider this machine does not have, or one whose key is not set.', retryable: false, http: 400 },
  MODEL_NOT_NAMED: { meaning: 'A provider was asked without a model id and has no default.', retryable: false },
  MODEL_REQUEST_REJECTED: { meaning: 'The model API refused the request with a 4xx other than 429 (a bad key, an unknown model).', retryable: false },
  MODEL_UNAVAILABLE: { meaning: "429, 5xx or network errors outlasted the adapter's retries." },
  MODEL_TIMEOUT: { meaning: "No answer within WEFT_MODEL_TIMEOUT per request, or WEFT_MODEL_DEADLINE in all, after the adapter's retries." },
  MODEL_ANSWER_INVALID: { meaning: "The answer is unusable: `details.reason` is body_not_json, truncated, no_content, length or too_large, or it did not fit the prompt's schema after its repairs." },
  CRITIC_ANSWER_INVALID: { meaning: "A critic's answer lacks a numeric `score` (0–100) or a `feedback` text.", retryable: false },
  CRITIC_PROMPT_INVALID: { meaning: "A critic prompt's output schema has no numeric `score` and `feedback` text.", retryable: false },
  PROMPT_NOT_FOUND: { meaning: 'A prompt name that no prompt folder has.', retryable: false },
  PROMPT_INVALID: { meaning: 'A prompt file that does not read or does not fit the prompt format.', retryable: false },
  PROMPT_VARIABLE_MISSING: { meaning: 'A prompt variable that no value was given for.', retryable: false },
  BUDGET_EXCEEDED: { meaning: 'The next call would take the run past its `budget.usd`; it was not made.', retryable: false },
  BUDGET_UNPRICED: { meaning: 'A run with a budget was about to call a model (or media model) the price table has no price for.', retryable: false },
  PRICES_INVALID: { meaning: 'The WEFT_PRICES file does not read or does not fit the price format.', retryable: false },
  PROVIDER_CONFIG_INVALID: { meaning: 'A provider setting in the environment cannot work (the message names the variable).', retryable: false },
  // media
  NO_MEDIA_PROVIDER: { meaning: 'A render node ran in a run with no media provider.', retryable: false },
  MEDIA_INPUT_INVALID: { meaning: 'A render request the media provider cannot take (a missing clip, a file that is not an image).', retryable: false },
  MEDIA_FAILED: { meaning: 'ffmpeg exited with an error, or a Replicate prediction failed or was canceled elsewhere.' },
  MEDIA_REFUSED: { meaning: "A Replicate model's safety or moderation filter refused the content; the same prompt would be refused again.", retryable: false },
  MEDIA_TIMEOUT: { meaning: 'A Replicate render passed WEFT_MEDIA_TIMEOUT; its prediction was canceled.' },
  MEDIA_UNAVAILABLE: { meaning: "429, 5xx or network errors of Replicate outlasted the adapter's retries." },
  MEDIA_REQUEST_REJECTED: { meaning: 'Replicate refused the request with a 4xx other than 429 (bad input, bad token).', retryable: false },
  MEDIA_OUTPUT_INVALID: { meaning: 'A prediction succeeded without an output URL, or its file downloaded empty.' },
  MEDIA_UNSUPPORTED: { meaning: 'A media provider was asked for a kind of render it does not make (Replicate: stitch).', retryable: false },
  FFMPEG_NOT_FOUND: { meaning: 'No ffmpeg or ffprobe binary could be run (set FFMPEG_PATH / FFPROBE_PATH).', retryable: false },
  FONT_NOT_FOUND: { meaning: 'No font file for drawn text (set WEFT_FONT).', retryable: false },
  PATH_OUTSIDE_RUN: { meaning: "A render's `out:` would leave the run's folder.", retryable: false },
  ASSET_UNREADABLE: { meaning: 'A brand asset (a URL, an upload or a file) could not be read as a PNG, JPEG or WebP image within the limits.', retryable: false, http: 400 },
  ASSET_OPTIONS_INVALID: { meaning: 'Asset fetching was set up with options that cannot work.', retryable: false },
  // the store and the cache
  STORE_UNAVAILABLE: { meaning: 'The run store was out of reach for longer than its reconnect window.' },
  STORE_CLOSED: { meaning: 'The run store was closed while an operation was asked of it.', retryable: false },
  STORE_CONFLICT: { meaning: 'A write that contradicts what the store holds (a decision on a gate that moved on).', retryable: false },
  STORE_WRITE_FAILED: { meaning: 'The store refused a write (a full disk, a read-only file, a constraint).', retryable: false },
  STORE_WRITE_INVALID: { meaning: 'A record that the store will not write as it is (it would not read back).', retryable: false },
  STORE_MIGRATION_FAILED: { meaning: "The SQLite store's schema could not be brought up to date.", retryable: false },
  STORE_CONFIG_INVALID: { meaning: 'DATABASE_URL (or the store settings) cannot work.', retryable: false },
  STORE_FAILED: { meaning: 'The run could not be recorded (a store error with no code of its own); the run stops.', retryable: false },
  STORE_DISK_FULL: { meaning: "The SQLite store's disk is full; a person must make room.", retryable: false },
  STORE_NOT_WRITABLE: { meaning: "The SQLite store's file or folder cannot be written.", retryable: false },
  STORE_NOT_SQLITE: { meaning: 'The store file is not an SQLite database.', retryable: false },
  STORE_CORRUPT: { meaning: 'The SQLite store file is damaged.', retryable: false },
  STORE_IO_ERROR: { meaning: 'The disk under the SQLite store failed a read or a write.', retryable: false },
  RUN_RECORD_CORRUPT: { meaning: 'A stored run record does not read back; the record is reported, not guessed at.', retryable: false },
  CACHE_CONFIG_INVALID: { meaning: 'A node cache setting (WEFT_CACHE, WEFT_CACHE_DIR, WEFT_CACHE_MAX) cannot work.', retryable: false },
  CACHE_UNAVAILABLE: { meaning: 'The node cache could not be opened or written; the run goes on without it.' },
  // the server and the CLI
  REQUEST_INVALID: { meaning: 'A request body or query that does not fit its schema (`issues` names each field).', retryable: false, http: 400 },
  REQUEST_MALFORMED: { meaning: 'A request the HTTP parser refuses (a bare backslash in the path, a broken header).', retryable: false, http: 400 },
  JSON_INVALID: { meaning: 'A body (or WebSocket message) that is not JSON.', retryable: false, http: 400 },
  ENCODING_INVALID: { meaning: 'A body that is not UTF-8 text (the message says where).', retryable: false, http: 400 },
  PATH_INVALID: { meaning: 'An artifact path with `.`, `..`, a backslash or an encoded separator.', retryable: false, http: 400 },
  CURSOR_INVALID: { meaning: 'A list cursor this server did not give out.', retryable: false, http: 400 },
  UNAUTHORIZED: { meaning: 'No API key, or one that is not valid.', retryable: false, http: 401 },
  HOST_FORBIDDEN: { meaning: 'Without API keys, a request whose Host is not a name of this machine (a DNS-rebinding page).', retryable: false, http: 403 },
  ORIGIN_FORBIDDEN: { meaning: 'A WebSocket upgrade from a browser origin that is not allowed.', retryable: false, http: 403 },
  PROTOCOL_REQUIRED: { meaning: 'A WebSocket upgrade without the `weft.v1` subprotocol and a token or key.', retryable: false, http: 401 },
  NOT_FOUND: { meaning: 'No such route, generation or artifact.', retryable: false, http: 404 },
  SESSION_NOT_FOUND: { meaning: 'No such session.', retryable: false, http: 404 },
  PAYLOAD_TOO_LARGE: { meaning: 'A body over WEFT_BODY_LIMIT, or an upload over the asset cap.', retryable: false, http: 413 },
  UNSUPPORTED_MEDIA_TYPE: { meaning: 'A body of a content type the route does not take.', retryable: false, http: 415 },
  RANGE_NOT_SATISFIABLE: { meaning: 'A Range outside the artifact.', retryable: false, http: 416 },
  RATE_LIMITED: { meaning: "Over the caller's request budget (`Retry-After` says when to come back).", http: 429 },
  UNAVAILABLE: { meaning: 'The server is shutting down and takes no new WebSocket connections.', http: 503 },
  INTERNAL: { meaning: "Something failed that is not the client's doing; the log has the details, the client gets none.", http: 500 },
  MESSAGE_UNKNOWN: { meaning: 'A WebSocket message with no type, or one the server does not know.', retryable: false },
  MESSAGE_INVALID: { meaning: 'A WebSocket message with missing or wrong fields (`issues` lists them).', retryable: false },
  GENERATION_REQUIRED: { meaning: 'A WebSocket message without `generation_id`, in a session that has not exactly one generation.', retryable: false },
  AUTH_REQUIRED: { meaning: '`weft serve` on a non-loopback address without WEFT_API_KEYS.', retryable: false },
  API_KEYS_INVALID: { meaning: 'WEFT_API_KEYS cannot be read (too short, malformed).', retryable: false },
  TOKEN_SECRET_INVALID: { meaning: 'WEFT_WS_SECRET (or the kept secret file) is too short or unreadable.', retryable: false },
  RATE_LIMIT_INVALID: { meaning: 'A rate limit setting cannot be read.', retryable: false },
  SETTING_INVALID: { meaning: 'A `weft serve` setting cannot work (the message names it).', retryable: false },
  LISTEN_FAILED: { meaning: 'The server could not listen on its address and port.', retryable: false },
} as const satisfies Record<string, ErrorCodeInfo>

type ErrorCode = keyof typeof ERROR_CODES

/** The HTTP status of a code the API may answer with, or undefined (answered as 500 INTERNAL). */
export function httpStatusOf(code: string): ErrorCodeInfo['http'] {
  return Object.hasOwn(ERROR_CODES, code) ? (ERROR_CODES[code as ErrorCode] as ErrorCodeInfo).http : undefined
}
