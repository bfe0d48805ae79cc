"""TLS for the MQTT transport: the broker must show a certificate issued by the site CA.

node.json carries the CA certificate (`mqtt_ca`, PEM) that `kizashi node add` wrote; the
gateway's docs/FIRMWARE.md says which boards use it (opt-in: `mqtt_tls`).
"""


def pem_to_der(pem):
    """The DER bytes of the first certificate in a PEM text."""
    import binascii

    body = pem.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----")[0]
    return binascii.a2b_base64("".join(body.split()))


def tls_wrapper(ca_pem):
    """wrap(sock, host) for MQTTClient: TLS that accepts only a broker certificate issued by
    the site CA (node.json `mqtt_ca`), checked against the broker's name or address."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # MicroPython's SSLContext has verify_mode (modtls_mbedtls.c); the board stubs omit it
    ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]
    ctx.load_verify_locations(cadata=pem_to_der(ca_pem))

    def wrap(sock, host):
        return ctx.wrap_socket(sock, server_hostname=host)

    return wrap
