import { render } from 'preact';
import { takeTokenFromLocation } from '../../chat/src/token-bridge';
import { App } from './app';
import '../../chat/src/chat.css';
import './admin.css';

render(<App token={takeTokenFromLocation(window)} />, document.getElementById('app') as HTMLElement);
