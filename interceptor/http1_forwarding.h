// What a proxy changes in the HTTP/1.1 message heads it forwards (RFC 9110 7.6.1): the hop-by-hop
// headers describe one connection and are not passed on to the next, and the proxy states its
// own HTTP version.
#pragma once

#include <string>
#include <string_view>

#include "interceptor/http1_parser.h"

namespace sluice::intercept {

// True when a Connection or Proxy-Connection header of `head` lists `option` (case-insensitive).
bool has_connection_option(const Http1Head& head, std::string_view option);

// Appends "name: value\r\n" for every header of `head` but the hop-by-hop ones: Connection,
// Proxy-Connection, Keep-Alive, Proxy-Authorization and the names a Connection header lists.
// Content-Length, Transfer-Encoding and Host are kept even when listed: a proxy that frames or
// addresses a message differently from the server is a request-smuggling hole. With
// `drop_host`, Host is left out: a proxy forwarding an absolute-URI request writes the URI's
// authority as Host itself (RFC 9112 3.2.2).
void append_end_to_end_headers(const Http1Head& head, std::string& out, bool drop_host = false);

// The head of response `head` as the client gets it: "HTTP/1.1 status reason", its end-to-end
// headers, and "Connection: close" when the proxy ends the connection after it.
std::string forwarded_response_head(const Http1Head& head, bool closing);

}  // namespace sluice::intercept
