import Foundation
import Grammar
import HTTPTypes
import Hummingbird
import NIOCore
import SwerveCore

/// Reads a request's JSON body, turning every way it can be wrong into a 400 (or 413 past the size limit)
/// that names the field: `missing required field 'messages'`, `'temperature': expected a number`.
enum RequestDecoding {
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        try await decodeWithBody(type, from: request, limit: limit).value
    }

    /// The decoded body and its parsed JSON (for fields read in member order: JSON schemas).
    static func decodeWithBody<T: Decodable>(
        _ type: T.Type,
        from request: Request,
        limit: Int
    ) async throws -> (value: T, body: JSONValue) {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw OpenAIError(.contentTooLarge, "the request body is larger than the server's limit of \(limit) bytes")
        }
        guard buffer.readableBytes > 0 else {
            throw OpenAIError.badRequest("the request body is empty; send a JSON object")
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes: Array(buffer.readableBytesView))
        } catch {
            throw OpenAIError.badRequest("the request body is not valid JSON: \(error.description)")
        }
        do {
            return (try JSONValueDecoder().decode(T.self, from: json), json)
        } catch let error as DecodingError {
            throw OpenAIError(error)
        }
    }
}

extension OpenAIError {
    /// A 400 for a body that is not JSON, or not the JSON the route takes.
    init(_ error: DecodingError) {
        func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
            var text = ""
            for key in context.codingPath + (key.map { [$0] } ?? []) {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
                }
            }
            return text
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            self = .badRequest("the request body is not valid JSON: \(Self.reason(context))")
        case .dataCorrupted(let context):
            self = .badRequest("invalid value for '\(path(context))': \(Self.reason(context))", param: path(context))
        case .keyNotFound(let key, let context):
            self = .badRequest("missing required field '\(path(context, key))'", param: path(context, key))
        case .valueNotFound(_, let context):
            self = .badRequest("'\(path(context))' must not be null", param: path(context))
        case .typeMismatch(let type, let context):
            let field = path(context)
            self = .badRequest(
                "invalid type for '\(field.isEmpty ? "body" : field)': expected \(Self.describe(type, context))",
                param: field.isEmpty ? nil : field
            )
        @unknown default:
            self = .badRequest("the request body could not be read: \(error)")
        }
    }

    static func reason(_ context: DecodingError.Context) -> String {
        (context.underlyingError.map { "\($0)" } ?? context.debugDescription)
    }

    static func describe(_ type: Any.Type, _ context: DecodingError.Context) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "a list"
        case is [String: Any].Type: "an object"
        default: context.debugDescription
        }
    }
}
