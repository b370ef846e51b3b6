// The page's entry: defines every component (each file registers its own tag).
import './components/chat-app.js';
