import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why an HTTP exchange failed, said for a person: what was asked of whom, and what happened.
public struct HTTPFailure: Error, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case timeout
        /// No answer at all: refused, unreachable, reset.
        case transport(String)
        /// An answer with a status other than 200.
        case status(Int, body: String)
    }

    public let url: String
    public let kind: Kind
    /// How many times the request was sent.
    public var attempts = 1

    /// Worth trying again: a timeout, no connection, a rate limit or a server error.
    public var retryable: Bool {
        switch kind {
        case .timeout, .transport: true
        case .status(let code, _): code == 429 || code >= 500
        }
    }

    public var description: String {
        let what = switch kind {
        case .timeout: "POST \(url): no answer within the timeout"
        case .transport(let problem): "POST \(url): \(problem)"
        case .status(let code, let body):
            "POST \(url): HTTP \(code)" + (body.isEmpty ? "" : ": " + Self.preview(body))
        }
        return what + (attempts > 1 ? " (after \(attempts) attempts)" : "")
    }

    /// The start of an answer's body, on one line.
    static func preview(_ text: String, limit: Int = 300) -> String {
        let line = text.replacingOccurrences(of: "\n", with: " ")
        return line.count > limit ? String(line.prefix(limit)) + "..." : line
    }
}

/// A blocking JSON POST through Foundation's URLSession (FoundationNetworking on Linux), with a timeout
/// and retries. Rollouts and the judge run on plain threads, one request at a time per thread.
public final class HTTPClient: @unchecked Sendable {
    public let timeout: Double
    /// Extra attempts after a retryable failure, `backoff` seconds apart, doubling.
    public let retries: Int
    public let backoff: Double
    let session: URLSession

    public init(timeout: Double, retries: Int = 2, backoff: Double = 1) {
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        session = URLSession(configuration: configuration)
    }

    deinit { session.invalidateAndCancel() }

    /// POSTs `body` (JSON) and returns the answer's body when the status is 200; retries retryable
    /// failures and then throws the last one.
    public func postJSON(_ url: URL, body: Data, headers: [String: String] = [:]) throws -> Data {
        var attempt = 0
        while true {
            do {
                return try postOnce(url, body: body, headers: headers)
            } catch var failure as HTTPFailure {
                guard failure.retryable && attempt < retries else {
                    failure.attempts = attempt + 1
                    throw failure
                }
                Thread.sleep(forTimeInterval: backoff * Double(1 << attempt))
                attempt += 1
            }
        }
    }

    final class Outcome: @unchecked Sendable {
        var data: Data?
        var response: URLResponse?
        var error: Error?
    }

    func postOnce(_ url: URL, body: Data, headers: [String: String]) throws -> Data {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        let task = session.dataTask(with: request) { data, response, error in
            outcome.data = data
            outcome.response = response
            outcome.error = error
            done.signal()
        }
        task.resume()
        // URLSession enforces the timeout; the margin only guards against a session that never calls back.
        if done.wait(timeout: .now() + timeout + 10) == .timedOut {
            task.cancel()
            throw HTTPFailure(url: url.absoluteString, kind: .timeout)
        }
        if let error = outcome.error {
            if let urlError = error as? URLError, urlError.code == .timedOut {
                throw HTTPFailure(url: url.absoluteString, kind: .timeout)
            }
            throw HTTPFailure(url: url.absoluteString, kind: .transport(error.localizedDescription))
        }
        guard let http = outcome.response as? HTTPURLResponse else {
            throw HTTPFailure(url: url.absoluteString, kind: .transport("not an HTTP answer"))
        }
        let data = outcome.data ?? Data()
        guard http.statusCode == 200 else {
            throw HTTPFailure(url: url.absoluteString, kind: .status(http.statusCode, body: String(decoding: data, as: UTF8.self)))
        }
        return data
    }
}
