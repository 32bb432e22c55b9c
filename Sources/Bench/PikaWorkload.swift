import Engine
import Models
import Tokenizers

/// The seed's workload ("Pika"): a robot that teaches children English asks SmolLM2-135M-Instruct, after
/// every robot turn, to classify the reply into an emotion and a learn score. Every request has the same
/// system prompt (verbatim from the seed, `../shared/pika/system_prompt.txt`) and a different user turn
/// (previous question, previous answer, response to check; English and Vietnamese mixed, as in the seed's
/// sample request), and the answer is one short JSON line (~15 tokens).
public enum PikaWorkload {
    /// The seed's system prompt, verbatim.
    public static let systemPrompt = #"""
        You are now intention detection. Given user's input, detect the suitable emotion and the need of celebrate for it.
        User input in format
        previous Question: string
        previous Answer: string
        Response to check: string to check

        You will extract the 'Response to check' and check:

        1. For emotion, pick from the list below:
        - happy, happy_2: when intention about happiness
        - calm: when intentionis to comfort
        - excited, excited_2: when expressing the exciting emotion
        - playful,playful_2,playful_3: intention about playing some fun activity
        - no_problem: intention when telling something is fine
        - encouraging,encouraging_2: intention when tell to try to do something
        - curious: intention when show curiousity
        - surprised: when being shocked or surprised
        - proud,proud_2: when showing proud
        - thats_right, thats_right_2: when telling something is correct
        - sad: when sad
        - angry: showing anger
        - worry: when show worriness
        - afraid: when feel scared
        - noisy: When intention about can't hear properly
        - thinking: intention about thinking

        2. For learn_score, if related to english learning
        - true: if question is about english learning, repeating something, and answer correctly
        - false: for other case include positive and negative


         return in single line json format.
        {"emotion":"<emotion name>","learn_score":true/flase}
        """#

    /// The seed's answer schema (`../shared/pika/response_schema.json`), compact: one of 23 emotions and a
    /// boolean learn score.
    public static let responseSchema =
        #"{"type":"object","properties":{"emotion":{"type":"string","enum":["happy","happy_2","calm","excited","excited_2","playful","playful_2","playful_3","no_problem","encouraging","encouraging_2","curious","surprised","proud","proud_2","thats_right","thats_right_2","sad","angry","worry","afraid","noisy","thinking"]},"learn_score":{"type":"boolean"}},"required":["emotion","learn_score"],"additionalProperties":false}"#

    /// The 23 emotion labels, in the schema's order.
    public static let emotions = [
        "happy", "happy_2", "calm", "excited", "excited_2", "playful", "playful_2", "playful_3", "no_problem",
        "encouraging", "encouraging_2", "curious", "surprised", "proud", "proud_2", "thats_right", "thats_right_2",
        "sad", "angry", "worry", "afraid", "noisy", "thinking",
    ]

    static let questions = [
        "Tớ buồn quá.", "What is your favorite color?", "Can you say 'apple'?", "Bạn có thích chó không?",
        "How do you say 'con mèo' in English?", "Let's count to five!", "What did you eat today?",
        "Cậu có muốn chơi trốn tìm không?", "Repeat after me: banana.", "Do you like to sing?",
        "Hôm nay trời đẹp quá nhỉ?", "What animal says moo?",
    ]
    static let answers = [
        "i think a yummy", "Blue!", "apple", "Có, tớ thích chó lắm", "cat", "one two three four five",
        "rice and fish", "không muốn", "banana", "yes I like", "ừ đẹp lắm", "cow",
    ]
    static let responses = [
        "Nghe vui quá! Bé Hả, cậu có muốn chơi trò kể tên các loại trái cây bằng tiếng Anh không? Name fruits in English!",
        "Great job! You said apple perfectly!", "Đừng buồn nhé, tớ luôn ở đây với cậu.",
        "Wow, that's amazing! Let's jump together!", "Hmm, let me think about that for a moment...",
        "Oh no, I can't hear you well. Can you say it again?", "That's right! A cow says moo!",
        "Cậu giỏi quá! You counted to five!", "Oops, be careful, that sounds a bit scary.",
        "Yay! Let's sing a song about colors!", "Tớ tự hào về cậu lắm! You are so proud of yourself!",
        "Are you okay? You sound worried.",
    ]

    /// The `index`th user turn: a different combination of question, answer and robot reply per index.
    public static func userTurn(_ index: Int) -> String {
        let q = questions[index % questions.count]
        let a = answers[(index * 7 + index / questions.count) % answers.count]
        let r = responses[(index * 5 + index / 7) % responses.count]
        return "Previous Question: \(q) \nPrevious Answer: \(a)\nResponse to check: \(r)"
    }

    /// The `index`th request's prompt through the model's chat template, as token ids.
    public static func prompt(_ index: Int, model: ModelFile) throws -> [Int32] {
        let messages: JinjaValue = .array([
            .object(JinjaObject([("role", .string("system")), ("content", .string(systemPrompt))])),
            .object(JinjaObject([("role", .string("user")), ("content", .string(userTurn(index)))])),
        ])
        return try model.prompts.chat(messages)
    }
}
