(function(){
var D=JSON.parse(document.getElementById('mw-data').textContent),tip=document.getElementById('tip');
function fb(b){var u=['B','KiB','MiB','GiB','TiB'],i=0;while(b>=1024&&i<4){b/=1024;i++}return(i?b.toFixed(1):b.toFixed(0))+' '+u[i]}
function ft(s){var p=function(n){return(n<10?'0':'')+n};return s<60?s.toFixed(1)+'s':s<3600?Math.floor(s/60)+'m '+p(Math.round(s%60))+'s':s<86400?Math.floor(s/3600)+'h '+p(Math.floor(s%3600/60))+'m':Math.floor(s/86400)+'d '+Math.floor(s%86400/3600)+'h'}
document.querySelectorAll('svg.mw-chart').forEach(function(svg){
var g=svg.querySelector('.guide'),w=svg.viewBox.baseVal.width,d=svg.dataset,x0=+d.x0,x1=+d.x1,t0=+d.t0,t1=+d.t1;
function hide(){g.setAttribute('visibility','hidden');tip.hidden=true}
svg.addEventListener('mousemove',function(e){
var r=svg.getBoundingClientRect(),x=(e.clientX-r.left)*w/r.width,C=D.c;
if(x<x0||x>x1||!C.length)return hide();
var t=t0+(x-x0)/(x1-x0)*(t1-t0),lo=0,hi=C.length-1;
while(lo<hi){var m=(lo+hi)>>1;if(C[m][0]<t)lo=m+1;else hi=m}
if(lo>0&&t-C[lo-1][0]<C[lo][0]-t)lo--;
var c=C[lo],cx=x0+(c[0]-t0)/(t1-t0)*(x1-x0);
g.setAttribute('x1',cx);g.setAttribute('x2',cx);g.setAttribute('visibility','visible');
tip.textContent=ft(c[0])+' · '+D.m+' '+(c[1]==c[2]?fb(c[2]):fb(c[1])+' – '+fb(c[2]))+' · rss '+fb(c[3])+(c[7]>=0?' · cgroup '+fb(c[7]):'')+' · threads '+c[4]+' · fds '+c[5]+' · processes '+c[6];
tip.hidden=false;tip.style.left=(e.pageX+14)+'px';tip.style.top=(e.pageY+14)+'px'});
svg.addEventListener('mouseleave',hide)})})();
