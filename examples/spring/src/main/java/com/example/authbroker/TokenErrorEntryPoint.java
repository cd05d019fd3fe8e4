package com.example.authbroker;

import java.io.IOException;

import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;

import org.springframework.security.core.AuthenticationException;
import org.springframework.security.oauth2.core.OAuth2Error;
import org.springframework.security.oauth2.jwt.JwtValidationException;
import org.springframework.security.oauth2.server.resource.web.BearerTokenAuthenticationEntryPoint;
import org.springframework.security.web.AuthenticationEntryPoint;

/**
 * Answers a refused token as the broker's own routes do: 401 with RFC 6750's
 * WWW-Authenticate (Spring's entry point writes it) and a JSON body whose
 * error is "token_expired" when only the expiry failed (the client
 * refreshes) or "invalid_token" otherwise (the client signs in again).
 */
final class TokenErrorEntryPoint implements AuthenticationEntryPoint {

    private final BearerTokenAuthenticationEntryPoint header = new BearerTokenAuthenticationEntryPoint();

    @Override
    public void commence(HttpServletRequest request, HttpServletResponse response, AuthenticationException e)
            throws IOException {
        header.commence(request, response, e);
        response.setContentType("application/json");
        response.getWriter().write("{\"error\":\"" + (expired(e) ? "token_expired" : "invalid_token") + "\"}");
    }

    /** Whether every validation error is JwtTimestampValidator's "Jwt expired at …". */
    static boolean expired(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof JwtValidationException v) {
                return !v.getErrors().isEmpty() && v.getErrors().stream()
                    .map(OAuth2Error::getDescription)
                    .allMatch(d -> d != null && d.startsWith("Jwt expired"));
            }
        }
        return false;
    }
}
