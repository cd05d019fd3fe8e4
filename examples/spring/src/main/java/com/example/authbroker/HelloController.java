package com.example.authbroker;

import java.util.LinkedHashMap;
import java.util.Map;

import org.springframework.security.core.annotation.AuthenticationPrincipal;
import org.springframework.security.oauth2.jwt.Jwt;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/** The protected routes: what the verified token says about the member. */
@RestController
class HelloController {

    @GetMapping("/api/hello")
    Map<String, Object> hello(@AuthenticationPrincipal Jwt jwt) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("member_id", jwt.getSubject());
        out.put("email", jwt.getClaimAsString("email"));
        out.put("role", jwt.getClaimAsString("role"));
        out.put("session_id", jwt.getClaimAsString("sid"));
        return out;
    }

    @GetMapping("/api/admin")
    Map<String, Object> admin(@AuthenticationPrincipal Jwt jwt) {
        return Map.of("member_id", jwt.getSubject(), "admin", true);
    }
}
