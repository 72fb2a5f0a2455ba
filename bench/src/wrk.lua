-- wrk's side of `wxgate-bench --client wrk` (bench/src/wrk.rs writes this file out and runs
-- `wrk -s` with it). Everything comes from environment variables:
--
--   WXB_MODE    get | post (one fixed request, as wrk sends by default) | plain | safe
--               (a fresh push per request: new MsgId, nonce and signature; safe also encrypts)
--   WXB_PATH    the path and query of get/post; the message path of plain/safe
--   WXB_BODY    the body of post
--   WXB_COOKIE  a Cookie header for get, if set
--   WXB_TOKEN, WXB_AES_KEY (EncodingAESKey), WXB_APPID, WXB_OPENID, WXB_FIRST_ID   for pushes
--
-- SHA-1 and AES-256-CBC come from OpenSSL's libcrypto through LuaJIT's FFI (wrk links
-- OpenSSL itself), so that signing a push costs the client about what it costs WeChat, and the
-- client takes as little of the shared cores as it can. The push format is
-- docs/wechat-protocol.md's; bench/src/main.rs builds the same pushes for the built-in client.

local mode = os.getenv("WXB_MODE") or "get"
local path = os.getenv("WXB_PATH") or "/"

if mode == "get" then
  wrk.method = "GET"
  wrk.path = path
  local cookie = os.getenv("WXB_COOKIE")
  if cookie and cookie ~= "" then
    wrk.headers["Cookie"] = cookie
  end
elseif mode == "post" then
  wrk.method = "POST"
  wrk.path = path
  wrk.body = os.getenv("WXB_BODY") or ""
  wrk.headers["Content-Type"] = "text/xml"
end

-- Each thread numbers its pushes from its own base, so MsgIds never repeat across threads.
local thread_count = 0
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

-- Reports the figures wxgate-bench reads, on one line (latencies in microseconds).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "wxgate-bench-wrk requests=%d duration_us=%d p50_us=%.1f p99_us=%.1f status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end

if mode ~= "plain" and mode ~= "safe" then
  return
end

local ffi = require("ffi")
ffi.cdef [[
unsigned char *SHA1(const unsigned char *d, size_t n, unsigned char *md);
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;
typedef struct evp_cipher_st EVP_CIPHER;
EVP_CIPHER_CTX *EVP_CIPHER_CTX_new(void);
const EVP_CIPHER *EVP_aes_256_cbc(void);
int EVP_EncryptInit_ex(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, void *engine,
                       const unsigned char *key, const unsigned char *iv);
int EVP_CIPHER_CTX_set_padding(EVP_CIPHER_CTX *ctx, int padding);
int EVP_EncryptUpdate(EVP_CIPHER_CTX *ctx, unsigned char *out, int *outl,
                      const unsigned char *in, int inl);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
int EVP_DecodeBlock(unsigned char *t, const unsigned char *f, int n);
int RAND_bytes(unsigned char *buf, int num);
]]
local crypto = ffi.load("libcrypto.so.3")

local token = os.getenv("WXB_TOKEN")
local appid = os.getenv("WXB_APPID")
local openid = os.getenv("WXB_OPENID")
local first_id = tonumber(os.getenv("WXB_FIRST_ID") or "1")

local digest = ffi.new("unsigned char[20]")
local function sha1_hex(s)
  crypto.SHA1(s, #s, digest)
  local out = {}
  for i = 0, 19 do
    out[i + 1] = string.format("%02x", digest[i])
  end
  return table.concat(out)
end

-- WeChat's signatures: the parts sorted as strings, joined, SHA-1 in hex.
local function signature(parts)
  table.sort(parts)
  return sha1_hex(table.concat(parts))
end

-- The 32-byte AES key: the EncodingAESKey with its "=" put back, Base64-decoded.
local key, ctx
if mode == "safe" then
  local encoded = os.getenv("WXB_AES_KEY") .. "="
  local decoded = ffi.new("unsigned char[48]")
  crypto.EVP_DecodeBlock(decoded, encoded, #encoded)
  key = ffi.new("unsigned char[32]")
  ffi.copy(key, decoded, 32)
  ctx = crypto.EVP_CIPHER_CTX_new()
end

-- random(16) || u32_be(len) || xml || appid, padded PKCS#7-style to 32 bytes, AES-256-CBC
-- with IV = key[0..16], Base64.
local function encrypt(xml)
  local n = #xml
  local random = ffi.new("unsigned char[16]")
  crypto.RAND_bytes(random, 16)
  local len = string.char(bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
    bit.band(bit.rshift(n, 8), 255), bit.band(n, 255))
  local plain = ffi.string(random, 16) .. len .. xml .. appid
  local pad = 32 - #plain % 32
  plain = plain .. string.rep(string.char(pad), pad)
  local out = ffi.new("unsigned char[?]", #plain)
  local outl = ffi.new("int[1]")
  crypto.EVP_EncryptInit_ex(ctx, crypto.EVP_aes_256_cbc(), nil, key, key)
  crypto.EVP_CIPHER_CTX_set_padding(ctx, 0)
  crypto.EVP_EncryptUpdate(ctx, out, outl, plain, #plain)
  local b64 = ffi.new("unsigned char[?]", math.floor((#plain + 2) / 3) * 4 + 1)
  local b64len = crypto.EVP_EncodeBlock(b64, out, #plain)
  return ffi.string(b64, b64len)
end

local count = 0
local base_id
function init(args)
  base_id = first_id + thread_index * 1000000000000
end

local headers = { ["Content-Type"] = "text/xml" }
function request()
  count = count + 1
  local msg_id = string.format("%.0f", base_id + count)
  local timestamp = tostring(os.time())
  -- Unique per push: a (timestamp, nonce) pair signs one body only.
  local nonce = thread_index .. string.format("%09d", count % 1000000000)
  local xml = "<xml><ToUserName><![CDATA[gh_wxgatedemo]]></ToUserName>" ..
      "<FromUserName><![CDATA[" .. openid .. "]]></FromUserName>" ..
      "<CreateTime>" .. timestamp .. "</CreateTime><MsgType><![CDATA[text]]></MsgType>" ..
      "<Content><![CDATA[bench message " .. msg_id .. "]]></Content><MsgId>" .. msg_id ..
      "</MsgId></xml>"
  local query = "?signature=" .. signature({ token, timestamp, nonce }) ..
      "&timestamp=" .. timestamp .. "&nonce=" .. nonce .. "&openid=" .. openid
  if mode == "plain" then
    return wrk.format("POST", path .. query, headers, xml)
  end
  local encrypted = encrypt(xml)
  query = query .. "&encrypt_type=aes&msg_signature=" ..
      signature({ token, timestamp, nonce, encrypted })
  local body = "<xml><ToUserName><![CDATA[gh_wxgatedemo]]></ToUserName><Encrypt><![CDATA[" ..
      encrypted .. "]]></Encrypt></xml>"
  return wrk.format("POST", path .. query, headers, body)
end
