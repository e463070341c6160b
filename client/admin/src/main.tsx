import { render } from 'preact';
import { tokenFromLocation } from '../../chat/src/token-bridge';
import { App } from './app';
import '../../chat/src/chat.css';
import './admin.css';

render(<App token={tokenFromLocation(window.location)} />, document.getElementById('app') as HTMLElement);
