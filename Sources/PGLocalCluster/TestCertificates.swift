import Foundation

extension LocalCluster {
    /// Paths written by ``LocalCluster/makeTestCertificates(in:hostName:)``.
    public struct TestCertificates: Sendable, Hashable {
        /// The throwaway CA certificate: use it as `sslrootcert`.
        public var caCertificate: String
        public var serverCertificate: String
        public var serverKey: String

        /// The server half, for ``Configuration/tls``.
        public var serverFiles: Configuration.TLSFiles {
            Configuration.TLSFiles(certificateFile: serverCertificate, keyFile: serverKey)
        }
    }

    /// Makes a throwaway CA and a server certificate for `hostName` (a DNS name or an IP address, put in
    /// the subject alternative name), valid for two days, with the `openssl` command line.
    /// Writes `ca.crt`, `ca.key`, `server.crt` and `server.key` into `directory`, which must exist.
    public static func makeTestCertificates(
        in directory: String, hostName: String = "localhost"
    ) throws -> TestCertificates {
        guard let openssl = CommandRunner.findOnPath("openssl") else {
            throw LocalClusterError(
                .setupFailed, "`openssl` was not found on PATH; install it with: apt-get install openssl")
        }
        let runner = CommandRunner(serverAccount: nil)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try runner.check(
            "openssl (CA)", openssl,
            ["req", "-x509"] + key + [
                "-days", "2", "-subj", "/CN=PGLocalCluster test CA", "-keyout", "ca.key", "-out", "ca.crt",
            ],
            directory: directory)
        try runner.check(
            "openssl (server request)", openssl,
            ["req", "-new"] + key + ["-subj", "/CN=\(hostName)", "-keyout", "server.key", "-out", "server.csr"],
            directory: directory)
        let isAddress =
            hostName.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
            && hostName.contains { $0 == "." || $0 == ":" }
        let extensions = "subjectAltName=\(isAddress ? "IP" : "DNS"):\(hostName)\nbasicConstraints=CA:FALSE\n"
        do {
            try extensions.write(toFile: directory + "/server.ext", atomically: true, encoding: .utf8)
        } catch {
            throw LocalClusterError(.setupFailed, "could not write \(directory)/server.ext: \(error)")
        }
        try runner.check(
            "openssl (server certificate)", openssl,
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial",
                String(UInt32.random(in: 1...UInt32.max)),
                "-days", "2", "-extfile", "server.ext", "-out", "server.crt",
            ],
            directory: directory)
        for leftover in ["server.csr", "server.ext"] {
            try? FileManager.default.removeItem(atPath: directory + "/" + leftover)
        }
        return TestCertificates(
            caCertificate: directory + "/ca.crt", serverCertificate: directory + "/server.crt",
            serverKey: directory + "/server.key")
    }
}
